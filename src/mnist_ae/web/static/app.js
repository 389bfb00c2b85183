// The explorer page: six panels over the JSON API. Plain browser JavaScript, no build step.
// Images are flat lists of C x H x W values in [0, 1], channel-major: for colour models the
// red plane, then green, then blue, each row-major (the model's own input order).
"use strict";

const TYPING_PAUSE_MS = 150;   // wait this long after a keystroke before asking the server
const FRAME_MS = 140;          // one interpolation frame while playing
const SLIDER_STEPS = 200;      // positions along each latent slider
const WARM_UP_DECODES = 20;
const DECIMALS = { mse: 4, psnr: 1, code: 2, weight: 2, noise: 2, timing: 2 };
const LEVELS = 255;            // a canvas channel's largest value
const COLOUR = 3;              // channels of a colour model; 1 is grey
const RGBA = 4;                // a canvas keeps 4 bytes per pixel
const DRAW_SEND_MS = 100;      // while a stroke goes on, send the drawing at most this often
// A brush radius, in model pixels, that gives MNIST-like strokes about two and a half pixels wide
// on a 28-pixel side; larger images get a proportionally wider brush.
const BRUSH_RADIUS = 1.25;
const MNIST_SIDE = 28;
const SEND_SCALE = 1e4;        // drawn values go to the server rounded to 4 decimals, as answers come back
const MAX_LISTED_CLASSES = 10; // the header names this many classes, then says how many there are
const BYTES_PER_MB = 2 ** 20;

const $ = (root, selector) => root.querySelector(selector);
const role = (root, name) => root.querySelector(`[data-role="${name}"]`);

async function api(path, options) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return response;
}

const getJSON = async (path) => (await api(path)).json();
const query = (params) => new URLSearchParams(params).toString();

// The model's image shape from /api/info: channels, height, width and the size of one plane.
function imageShape(info) {
  const [height, width] = info.image_shape;
  return { channels: info.channels, height, width, plane: height * width };
}

// A canvas at the model's resolution, left blank (CSS paints it black) until something is drawn.
function blank(canvas, shape) {
  if (canvas.width !== shape.width || canvas.height !== shape.height) {
    canvas.width = shape.width;
    canvas.height = shape.height;
  }
}

const level = (value) => Math.round(Math.min(1, Math.max(0, value)) * LEVELS);

// Draw a flat channel-major image with pixels in [0, 1]; CSS scales the canvas up without smoothing.
function draw(canvas, pixels, shape) {
  blank(canvas, shape);
  const { plane } = shape;
  const colour = shape.channels === COLOUR;
  const context = canvas.getContext("2d");
  const image = context.createImageData(shape.width, shape.height);
  for (let i = 0; i < plane; i++) {
    const red = level(pixels[i]);
    image.data[RGBA * i] = red;
    image.data[RGBA * i + 1] = colour ? level(pixels[plane + i]) : red;
    image.data[RGBA * i + 2] = colour ? level(pixels[2 * plane + i]) : red;
    image.data[RGBA * i + 3] = LEVELS;
  }
  context.putImageData(image, 0, 0);
  canvas.dataset.version = String(Number(canvas.dataset.version || 0) + 1);
}

// Every canvas keeps the images' aspect ratio: CSS scales its box by these (the longer side is 1).
function fitCanvases(shape) {
  const longer = Math.max(shape.height, shape.width);
  document.documentElement.style.setProperty("--fit-w", String(shape.width / longer));
  document.documentElement.style.setProperty("--fit-h", String(shape.height / longer));
}

// Run `task` for each call but apply only the answer of the newest one, so a slow
// answer to an old request never overwrites a newer picture.
// `cancel()` drops the answers of every call made so far.
function newestOnly(task, apply, status) {
  let ticket = 0;
  const run = async (...args) => {
    const mine = ++ticket;
    try {
      const result = await task(...args);
      if (mine === ticket) { apply(result); status(""); }
    } catch (error) {
      if (mine === ticket) status(error.message, true);
    }
  };
  run.cancel = () => { ticket++; };
  return run;
}

function statusLine(panel) {
  const line = $(panel, ".status");
  return (message, isError = false) => {
    line.textContent = message;
    line.classList.toggle("error", isError);
  };
}

function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

// Call `fn` at once, then at most once per `ms` while calls keep coming, and once after the last;
// `flush()` runs a waiting call now, `cancel()` drops it.
function throttle(fn, ms) {
  let timer = null;
  let waiting = false;
  const fire = () => {
    timer = null;
    if (!waiting) return;
    waiting = false;
    fn();
    timer = setTimeout(fire, ms);
  };
  const call = () => { waiting = true; if (timer === null) fire(); };
  call.flush = () => { if (waiting) { clearTimeout(timer); fire(); } };
  call.cancel = () => { waiting = false; };
  return call;
}

const postJSON = async (path, body) => (await api(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
})).json();

function showMetrics(panel, out) {
  role(panel, "mse").textContent = out.mse.toFixed(DECIMALS.mse);
  role(panel, "code").textContent = out.code.map((v) => v.toFixed(DECIMALS.code)).join("  ");
}

const randomIndex = (size) => Math.floor(Math.random() * size);
const formatPsnr = (db) => (db === null ? "PSNR ∞ (identical)" : `PSNR ${db.toFixed(DECIMALS.psnr)} dB`);

// A split select, an index box and a random button that call `onPick(split, index)`.
function picker(root, info, onPick) {
  const split = $(root, "select[name=split]");
  const index = $(root, "input[name=index]");
  const limit = () => { index.max = info.splits[split.value] - 1; };
  const pick = () => { if (index.value !== "") onPick(split.value, index.value); };
  limit();
  split.addEventListener("change", () => { limit(); pick(); });
  index.addEventListener("input", debounce(pick, TYPING_PAUSE_MS));
  $(root, "button[name=random]").addEventListener("click", () => {
    index.value = randomIndex(info.splits[split.value]);
    pick();
  });
  return pick;
}

const labelText = (out) => `(label ${out.label_name})`;

function setupReconstruct(panel, info, shape) {
  const show = newestOnly(
    (split, index) => getJSON(`/api/reconstruct?${query({ split, index })}`),
    (out) => {
      draw(role(panel, "original"), out.original, shape);
      draw(role(panel, "reconstruction"), out.reconstruction, shape);
      role(panel, "label").textContent = labelText(out);
      showMetrics(panel, out);
    },
    statusLine(panel));
  picker($(panel, "[data-picker]"), info, show)();
}

function setupDenoise(panel, info, shape) {
  const noise = $(panel, "input[name=noise]");
  noise.max = info.noise_max;
  noise.value = info.noise_default;
  let seed = 0;
  let image = null;
  const show = newestOnly(
    (split, index) => getJSON(`/api/denoise?${query({ split, index, noise: noise.value, seed })}`),
    (out) => {
      for (const name of ["original", "noisy", "denoised"]) draw(role(panel, name), out[name], shape);
      role(panel, "label").textContent = labelText(out);
      role(panel, "psnr-noisy").textContent = formatPsnr(out.psnr_noisy);
      role(panel, "psnr-denoised").textContent = formatPsnr(out.psnr_denoised);
    },
    statusLine(panel));
  const refresh = () => {
    role(panel, "noise").textContent = Number(noise.value).toFixed(DECIMALS.noise);
    if (image) show(...image);
  };
  noise.addEventListener("input", refresh);
  $(panel, "button[name=reseed]").addEventListener("click", () => { seed = randomIndex(2 ** 31); refresh(); });
  picker($(panel, "[data-picker]"), info, (split, index) => { image = [split, index]; refresh(); })();
}

function setupInterpolate(panel, info, shape) {
  const input = (name) => $(panel, `[name=${name}]`);
  const play = input("play");
  const strip = role(panel, "strip");
  const big = role(panel, "frame");
  let frames = [];
  let weights = [];
  let current = 0;
  let direction = 1;
  let timer = null;

  input("steps").min = info.steps_min;
  input("steps").max = info.steps_max;
  const limit = () => { for (const name of ["a", "b"]) input(name).max = info.splits[input("split").value] - 1; };

  function showFrame(i) {
    current = i;
    draw(big, frames[i], shape);
    role(panel, "weight").textContent = `t = ${weights[i].toFixed(DECIMALS.weight)}`;
    strip.querySelectorAll("canvas").forEach((c, j) => c.classList.toggle("current", j === i));
  }

  function setPlaying(on) {
    clearInterval(timer);
    timer = null;
    play.setAttribute("aria-pressed", String(on));
    play.textContent = on ? "❚❚ pause" : "▶ play";
    if (!on) return;
    timer = setInterval(() => {
      // Bounce between the ends so the animation never jumps.
      if (current + direction < 0 || current + direction >= frames.length) direction = -direction;
      showFrame(current + direction);
    }, FRAME_MS);
  }

  const fetchStrip = newestOnly(
    () => getJSON(`/api/interpolate?${query({
      split: input("split").value, a: input("a").value, b: input("b").value, steps: input("steps").value,
    })}`),
    (out) => {
      frames = out.frames;
      weights = out.weights;
      strip.replaceChildren(...frames.map((pixels, i) => {
        const canvas = document.createElement("canvas");
        canvas.title = `t = ${weights[i].toFixed(DECIMALS.weight)}`;
        canvas.addEventListener("click", () => { setPlaying(false); showFrame(i); });
        draw(canvas, pixels, shape);
        return canvas;
      }));
      showFrame(Math.min(current, frames.length - 1));
    },
    statusLine(panel));

  const refresh = debounce(() => {
    if (["a", "b", "steps"].every((name) => input(name).value !== "")) fetchStrip();
  }, TYPING_PAUSE_MS);
  limit();
  input("split").addEventListener("change", () => { limit(); refresh(); });
  for (const name of ["a", "b", "steps"]) input(name).addEventListener("input", refresh);
  for (const name of ["a", "b"]) {
    input(`random-${name}`).addEventListener("click", () => {
      input(name).value = randomIndex(info.splits[input("split").value]);
      refresh();
    });
  }
  play.addEventListener("click", () => setPlaying(timer === null && frames.length > 0));
  fetchStrip();
}

// Decode in the browser with the exported decoder weights: sigmoid(W4 relu(W3 z + b3) + b4).
// The output is channel-major, like every image the server sends.
function makeDecoder(buffer, info) {
  const all = new Float32Array(buffer);
  const [nCode, nHidden] = [info.bottleneck, info.hidden];
  const nOut = info.channels * info.image_shape[0] * info.image_shape[1];
  let offset = 0;
  const take = (n) => all.subarray(offset, (offset += n));
  const [w3, b3, w4, b4] = [take(nHidden * nCode), take(nHidden), take(nOut * nHidden), take(nOut)];
  if (offset !== all.length) throw new Error("the decoder weights do not match the model's shape");
  const hidden = new Float32Array(nHidden);
  const out = new Float32Array(nOut);
  return (code) => {
    for (let i = 0; i < nHidden; i++) {
      let sum = b3[i];
      for (let j = 0; j < nCode; j++) sum += w3[i * nCode + j] * code[j];
      hidden[i] = sum > 0 ? sum : 0;
    }
    for (let k = 0; k < nOut; k++) {
      let sum = b4[k];
      const row = k * nHidden;
      for (let i = 0; i < nHidden; i++) sum += w4[row + i] * hidden[i];
      out[k] = 1 / (1 + Math.exp(-sum));
    }
    return out;
  };
}

function setupLatent(panel, info, shape, decode) {
  const sliders = role(panel, "sliders");
  const decoded = role(panel, "decoded");
  let start = new Float32Array(info.bottleneck);
  let code = new Float32Array(info.bottleneck);

  function redraw() {
    const begin = performance.now();
    draw(decoded, decode(code), shape);
    const ms = performance.now() - begin;
    role(panel, "timing").textContent = `decoded in your browser in ${ms.toFixed(DECIMALS.timing)} ms`;
  }

  const rows = info.sliders.map(({ low, high }, unit) => {
    const row = document.createElement("label");
    row.className = "slider";
    row.innerHTML = `<span>z${unit + 1}</span><input type="range"><output></output>`;
    const range = $(row, "input");
    Object.assign(range, { min: low, max: high, step: (high - low) / SLIDER_STEPS });
    range.setAttribute("aria-label", `latent unit ${unit + 1}`);
    range.addEventListener("input", () => {
      code[unit] = Number(range.value);
      $(row, "output").textContent = code[unit].toFixed(DECIMALS.code);
      redraw();
    });
    sliders.append(row);
    return row;
  });

  // The sliders show the code; a value outside a slider's range is kept exact until dragged.
  function setCode(values) {
    code = Float32Array.from(values);
    rows.forEach((row, unit) => {
      $(row, "input").value = code[unit];
      $(row, "output").textContent = code[unit].toFixed(DECIMALS.code);
    });
    redraw();
  }

  const show = newestOnly(
    (split, index) => getJSON(`/api/reconstruct?${query({ split, index })}`),
    (out) => {
      draw(role(panel, "original"), out.original, shape);
      role(panel, "label").textContent = labelText(out);
      start = out.code;
      setCode(start);
    },
    statusLine(panel));
  $(panel, "button[name=reset]").addEventListener("click", () => setCode(start));
  picker($(panel, "[data-picker]"), info, show)();
}

// The ink as one value per channel in [0, 1]: white for grey models, the picker's colour otherwise.
function inkOf(picker, shape) {
  if (shape.channels !== COLOUR) return [1];
  const hex = picker.value;  // "#rrggbb"
  return [1, 3, 5].map((start) => parseInt(hex.slice(start, start + 2), 16) / LEVELS);
}

// Distance from (px, py) to the segment from (x0, y0) to (x1, y1).
function segmentDistance(px, py, x0, y0, x1, y1) {
  const [dx, dy] = [x1 - x0, y1 - y0];
  const length2 = dx * dx + dy * dy;
  const t = length2 === 0 ? 0 : Math.min(1, Math.max(0, ((px - x0) * dx + (py - y0) * dy) / length2));
  return Math.hypot(px - (x0 + t * dx), py - (y0 + t * dy));
}

// Draw with the mouse or a finger at the model's own resolution; the reconstruction follows.
function setupDraw(panel, info, shape) {
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
function setupUpload(panel, info, shape) {
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

function describeModel(info, shape) {
  const size = `${shape.height}x${shape.width}${shape.channels === COLOUR ? " colour" : ""}`;
  const parts = [info.dataset, size,
                 `${shape.channels * shape.plane}-${info.hidden}-${info.bottleneck} autoencoder`,
                 `train ${info.splits.train} / test ${info.splits.test} images`];
  // Class names that are only the labels' numbers (MNIST's digits) say nothing new.
  if (info.class_names.some((name) => !/^\d+$/.test(name))) {
    const more = info.class_names.length > MAX_LISTED_CLASSES ? `, … (${info.class_names.length})` : "";
    parts.push(`classes ${info.class_names.slice(0, MAX_LISTED_CLASSES).join(", ")}${more}`);
  }
  return parts.join(" · ");
}

async function main() {
  try {
    const info = await getJSON("/api/info");
    const decode = makeDecoder(await (await api("/api/decoder")).arrayBuffer(), info);
    // The first calls run before the JavaScript engine has compiled the loops; pay that now,
    // not on the user's first drag.
    for (let i = 0; i < WARM_UP_DECODES; i++) decode(new Float32Array(info.bottleneck));
    const shape = imageShape(info);
    fitCanvases(shape);
    document.getElementById("model-info").textContent = describeModel(info, shape);
    // Exposed so a test can check the browser's decoder against the server's.
    window.explorer = { info, shape, decode: (code) => Array.from(decode(code)) };
    setupReconstruct(document.getElementById("reconstruct"), info, shape);
    setupDenoise(document.getElementById("denoise"), info, shape);
    setupInterpolate(document.getElementById("interpolate"), info, shape);
    setupLatent(document.getElementById("latent"), info, shape, decode);
    setupDraw(document.getElementById("draw"), info, shape);
    setupUpload(document.getElementById("upload"), info, shape);
  } catch (error) {
    const line = document.getElementById("page-error");
    line.textContent = `Could not load the model: ${error.message}`;
    line.hidden = false;
  }
}

main();
