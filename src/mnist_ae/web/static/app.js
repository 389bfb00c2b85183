// The explorer page: four panels over the JSON API. Plain browser JavaScript, no build step.
"use strict";

const TYPING_PAUSE_MS = 150;   // wait this long after a keystroke before asking the server
const FRAME_MS = 140;          // one interpolation frame while playing
const SLIDER_STEPS = 200;      // positions along each latent slider
const WARM_UP_DECODES = 20;
const DECIMALS = { mse: 4, psnr: 1, code: 2, weight: 2, noise: 2, timing: 2 };

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

// Draw a flat row-major image with pixels in [0, 1]; CSS scales the canvas up without smoothing.
function draw(canvas, pixels, shape) {
  const [height, width] = shape;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    const grey = Math.round(Math.min(1, Math.max(0, pixels[i])) * 255);
    image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = grey;
    image.data[4 * i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
  canvas.dataset.version = String(Number(canvas.dataset.version || 0) + 1);
}

// Run `task` for each call but apply only the answer of the newest one, so a slow
// answer to an old request never overwrites a newer picture.
function newestOnly(task, apply, status) {
  let ticket = 0;
  return async (...args) => {
    const mine = ++ticket;
    try {
      const result = await task(...args);
      if (mine === ticket) { apply(result); status(""); }
    } catch (error) {
      if (mine === ticket) status(error.message, true);
    }
  };
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

function setupReconstruct(panel, info) {
  const show = newestOnly(
    (split, index) => getJSON(`/api/reconstruct?${query({ split, index })}`),
    (out) => {
      draw(role(panel, "original"), out.original, info.image_shape);
      draw(role(panel, "reconstruction"), out.reconstruction, info.image_shape);
      role(panel, "label").textContent = `(label ${out.label})`;
      role(panel, "mse").textContent = out.mse.toFixed(DECIMALS.mse);
      role(panel, "code").textContent = out.code.map((v) => v.toFixed(DECIMALS.code)).join("  ");
    },
    statusLine(panel));
  picker($(panel, "[data-picker]"), info, show)();
}

function setupDenoise(panel, info) {
  const noise = $(panel, "input[name=noise]");
  noise.max = info.noise_max;
  noise.value = info.noise_default;
  let seed = 0;
  let image = null;
  const show = newestOnly(
    (split, index) => getJSON(`/api/denoise?${query({ split, index, noise: noise.value, seed })}`),
    (out) => {
      for (const name of ["original", "noisy", "denoised"]) draw(role(panel, name), out[name], info.image_shape);
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

function setupInterpolate(panel, info) {
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
    draw(big, frames[i], info.image_shape);
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
        draw(canvas, pixels, info.image_shape);
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
function makeDecoder(buffer, info) {
  const all = new Float32Array(buffer);
  const [nCode, nHidden] = [info.bottleneck, info.hidden];
  const nOut = info.image_shape[0] * info.image_shape[1];
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

function setupLatent(panel, info, decode) {
  const sliders = role(panel, "sliders");
  const decoded = role(panel, "decoded");
  let start = new Float32Array(info.bottleneck);
  let code = new Float32Array(info.bottleneck);

  function redraw() {
    const begin = performance.now();
    draw(decoded, decode(code), info.image_shape);
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
      draw(role(panel, "original"), out.original, info.image_shape);
      start = out.code;
      setCode(start);
    },
    statusLine(panel));
  $(panel, "button[name=reset]").addEventListener("click", () => setCode(start));
  picker($(panel, "[data-picker]"), info, show)();
}

async function main() {
  try {
    const info = await getJSON("/api/info");
    const decode = makeDecoder(await (await api("/api/decoder")).arrayBuffer(), info);
    // The first calls run before the JavaScript engine has compiled the loops; pay that now,
    // not on the user's first drag.
    for (let i = 0; i < WARM_UP_DECODES; i++) decode(new Float32Array(info.bottleneck));
    const [height, width] = info.image_shape;
    document.getElementById("model-info").textContent =
      `${info.dataset} · ${height * width}-${info.hidden}-${info.bottleneck} autoencoder · ` +
      `train ${info.splits.train} / test ${info.splits.test} images`;
    // Exposed so a test can check the browser's decoder against the server's.
    window.explorer = { info, decode: (code) => Array.from(decode(code)) };
    setupReconstruct(document.getElementById("reconstruct"), info);
    setupDenoise(document.getElementById("denoise"), info);
    setupInterpolate(document.getElementById("interpolate"), info);
    setupLatent(document.getElementById("latent"), info, decode);
  } catch (error) {
    const line = document.getElementById("page-error");
    line.textContent = `Could not load the model: ${error.message}`;
    line.hidden = false;
  }
}

main();
