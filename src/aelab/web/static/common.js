// What every panel shares: the API calls, drawing an image on a canvas, and pacing requests.
// Images are flat lists of C x H x W values in [0, 1], channel-major: for colour models the
// red plane, then green, then blue, each row-major (the model's own input order).

export const TYPING_PAUSE_MS = 150;   // wait this long after a keystroke before asking the server
export const DECIMALS = { mse: 4, psnr: 1, code: 2, weight: 2, noise: 2, timing: 2, temperature: 2 };
const LEVELS = 255;                   // a canvas channel's largest value
export const COLOUR = 3;              // channels of a colour model; 1 is grey
const RGBA = 4;                       // a canvas keeps 4 bytes per pixel
const SEEDS = 2 ** 31;                // new seeds are drawn below this, well inside what the API takes

export const $ = (root, selector) => root.querySelector(selector);
export const role = (root, name) => root.querySelector(`[data-role="${name}"]`);

export async function api(path, options) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return response;
}

export const getJSON = async (path) => (await api(path)).json();
export const query = (params) => new URLSearchParams(params).toString();

// The model's image shape from /api/info: channels, height, width and the size of one plane.
export function imageShape(info) {
  const [height, width] = info.image_shape;
  return { channels: info.channels, height, width, plane: height * width };
}

// A canvas at the model's resolution, left blank (CSS paints it black) until something is drawn.
export function blank(canvas, shape) {
  if (canvas.width !== shape.width || canvas.height !== shape.height) {
    canvas.width = shape.width;
    canvas.height = shape.height;
  }
}

const level = (value) => Math.round(Math.min(1, Math.max(0, value)) * LEVELS);

// Draw a flat channel-major image with pixels in [0, 1]; CSS scales the canvas up without smoothing.
export function draw(canvas, pixels, shape) {
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
export function fitCanvases(shape) {
  const longer = Math.max(shape.height, shape.width);
  document.documentElement.style.setProperty("--fit-w", String(shape.width / longer));
  document.documentElement.style.setProperty("--fit-h", String(shape.height / longer));
}

// Run `task` for each call but apply only the answer of the newest one, so a slow
// answer to an old request never overwrites a newer picture.
// `cancel()` drops the answers of every call made so far.
export function newestOnly(task, apply, status) {
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

export function statusLine(panel) {
  const line = $(panel, ".status");
  return (message, isError = false) => {
    line.textContent = message;
    line.classList.toggle("error", isError);
  };
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

// Call `fn` at once, then at most once per `ms` while calls keep coming, and once after the last;
// `flush()` runs a waiting call now, `cancel()` drops it.
export function throttle(fn, ms) {
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

export const postJSON = async (path, body) => (await api(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
})).json();

export function showMetrics(panel, out) {
  role(panel, "mse").textContent = out.mse.toFixed(DECIMALS.mse);
  role(panel, "code").textContent = out.code.map((v) => v.toFixed(DECIMALS.code)).join("  ");
}

export const randomIndex = (size) => Math.floor(Math.random() * size);
export const formatPsnr = (db) => (db === null ? "PSNR ∞ (identical)" : `PSNR ${db.toFixed(DECIMALS.psnr)} dB`);

// A split select, an index box and a random button that call `onPick(split, index)`.
export function picker(root, info, onPick) {
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

export const labelText = (out) => `(label ${out.label_name})`;
export const newSeed = () => randomIndex(SEEDS);
// A canvas channel's level (0-255) as a pixel value in [0, 1].
export const fromLevel = (value) => value / LEVELS;
