// The panels over images the user brings: a drawing pad and a file upload.
import { $, COLOUR, api, blank, draw, fromLevel, newestOnly, postJSON, role, showMetrics, statusLine, throttle }
  from "./common.js";

const DRAW_SEND_MS = 100;      // while a stroke goes on, send the drawing at most this often
// A brush radius, in model pixels, that gives MNIST-like strokes about two and a half pixels wide
// on a 28-pixel side; larger images get a proportionally wider brush.
const BRUSH_RADIUS = 1.25;
const MNIST_SIDE = 28;
const SEND_SCALE = 1e4;        // drawn values go to the server rounded to 4 decimals, as answers come back
const BYTES_PER_MB = 2 ** 20;

// The ink as one value per channel in [0, 1]: white for grey models, the picker's colour otherwise.
function inkOf(picker, shape) {
  if (shape.channels !== COLOUR) return [1];
  const hex = picker.value;  // "#rrggbb"
  return [1, 3, 5].map((start) => fromLevel(parseInt(hex.slice(start, start + 2), 16)));
}

// Distance from (px, py) to the segment from (x0, y0) to (x1, y1).
function segmentDistance(px, py, x0, y0, x1, y1) {
  const [dx, dy] = [x1 - x0, y1 - y0];
  const length2 = dx * dx + dy * dy;
  const t = length2 === 0 ? 0 : Math.min(1, Math.max(0, ((px - x0) * dx + (py - y0) * dy) / length2));
  return Math.hypot(px - (x0 + t * dx), py - (y0 + t * dy));
}

// Draw with the mouse or a finger at the model's own resolution; the reconstruction follows.
export function setupDraw(panel, info, shape) {
  const pad = role(panel, "pad");
  const reconstruction = role(panel, "reconstruction");
  const picker = $(panel, "input[name=colour]");
  picker.closest("label").hidden = shape.channels !== COLOUR;
  const values = new Float32Array(shape.channels * shape.plane);
  const radius = BRUSH_RADIUS * Math.max(1, Math.min(shape.height, shape.width) / MNIST_SIDE);
  const status = statusLine(panel);
  const send = newestOnly(
    () => postJSON("/api/reconstruct-pixels",
                   { pixels: Array.from(values, (v) => Math.round(v * SEND_SCALE) / SEND_SCALE) }),
    (out) => { draw(reconstruction, out.reconstruction, shape); showMetrics(panel, out); },
    status);
  const sendSoon = throttle(send, DRAW_SEND_MS);

  // Paint a segment in model pixels: full ink inside the brush, a one-pixel soft edge around it.
  function stroke(x0, y0, x1, y1) {
    const ink = inkOf(picker, shape);
    const reach = radius + 1;
    const [top, bottom] = [Math.max(0, Math.floor(Math.min(y0, y1) - reach)),
                           Math.min(shape.height - 1, Math.ceil(Math.max(y0, y1) + reach))];
    const [left, right] = [Math.max(0, Math.floor(Math.min(x0, x1) - reach)),
                           Math.min(shape.width - 1, Math.ceil(Math.max(x0, x1) + reach))];
    for (let y = top; y <= bottom; y++) {
      for (let x = left; x <= right; x++) {
        const cover = Math.min(1, Math.max(0, radius + 0.5 - segmentDistance(x + 0.5, y + 0.5, x0, y0, x1, y1)));
        if (cover === 0) continue;
        ink.forEach((value, channel) => {
          const at = channel * shape.plane + y * shape.width + x;
          values[at] += (value - values[at]) * cover;
        });
      }
    }
    draw(pad, values, shape);
  }

  const toModel = (event) => {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) / box.width * shape.width,
            (event.clientY - box.top) / box.height * shape.height];
  };
  let last = null;  // where the pointer was, while a stroke goes on
  pad.addEventListener("pointerdown", (event) => {
    if (event.button > 0) return;  // the main button, a finger or a pen only
    event.preventDefault();
    // Keep the stroke when the pointer leaves the pad; a synthetic pointer cannot be captured.
    try { pad.setPointerCapture(event.pointerId); } catch (_) { /* the stroke still works */ }
    last = toModel(event);
    stroke(...last, ...last);
    sendSoon();
  });
  pad.addEventListener("pointermove", (event) => {
    if (last === null) return;
    const here = toModel(event);
    stroke(...last, ...here);
    last = here;
    sendSoon();
  });
  const end = () => { if (last !== null) { last = null; sendSoon.flush(); } };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  $(panel, "button[name=clear]").addEventListener("click", () => {
    values.fill(0);
    sendSoon.cancel();
    send.cancel();
    for (const canvas of [pad, reconstruction]) {
      canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    }
    for (const name of ["mse", "code"]) role(panel, name).textContent = "–";
    status("");
  });
  blank(pad, shape);
  blank(reconstruction, shape);
}

const megabytes = (bytes) => (bytes / BYTES_PER_MB).toFixed(1);

// Drop or pick an image file: the server converts it as the training images were and reconstructs it.
export function setupUpload(panel, info, shape) {
  const input = $(panel, "input[type=file]");
  const zone = role(panel, "drop");
  const status = statusLine(panel);
  const show = newestOnly(
    async (file) => {
      if (file.size > info.upload_max_bytes) {
        throw new Error(`${file.name} is ${megabytes(file.size)} MB; the limit is ${megabytes(info.upload_max_bytes)} MB`);
      }
      const response = await api("/api/upload", {
        method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" },
      });
      return [file, await response.json()];
    },
    ([file, out]) => {
      draw(role(panel, "original"), out.original, shape);
      draw(role(panel, "reconstruction"), out.reconstruction, shape);
      const [height, width] = out.size_received;
      role(panel, "received").textContent =
        `${file.name}: ${height}x${width}, seen as ${shape.height}x${shape.width}`;
      showMetrics(panel, out);
    },
    status);
  const take = (files) => {
    if (!files || files.length === 0) return;
    status(`sending ${files[0].name} …`);
    show(files[0]);
  };
  input.addEventListener("change", () => take(input.files));
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    take(event.dataTransfer.files);
  });
  for (const name of ["original", "reconstruction"]) blank(role(panel, name), shape);
}
