// The panels over dataset images and codes: reconstruct, denoise, interpolate, the latent
// sliders (decoded in the browser) and, for VAEs, new samples from the prior.
import {
  $, DECIMALS, TYPING_PAUSE_MS, debounce, draw, formatPsnr, getJSON, labelText, newSeed, newestOnly, picker,
  postJSON, query, randomIndex, role, showMetrics, statusLine, throttle,
} from "./common.js";

const FRAME_MS = 140;          // one interpolation frame while playing
const SLIDER_STEPS = 200;      // positions along each latent slider
const SAMPLE_SEND_MS = 100;    // while the temperature slider moves, ask for samples at most this often
// Near 0 every sample is the decoded prior mean, the same image n times; the API takes any value above 0.
const TEMPERATURE_SLIDER_MIN = 0.1;
const TEMPERATURE_STEP = 0.05;

export function setupReconstruct(panel, info, shape) {
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

export function setupDenoise(panel, info, shape) {
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
  $(panel, "button[name=reseed]").addEventListener("click", () => { seed = newSeed(); refresh(); });
  picker($(panel, "[data-picker]"), info, (split, index) => { image = [split, index]; refresh(); })();
}

export function setupInterpolate(panel, info, shape) {
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

export function setupLatent(panel, info, shape, decode) {
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

// New images from a VAE's prior: one seed draws the grid, so moving the temperature rescales
// the same draws; "new samples" draws another seed. Only a VAE shows this panel.
export function setupSample(panel, info, shape) {
  panel.hidden = !info.can_sample;
  if (!info.can_sample) return;
  const temperature = $(panel, "input[name=temperature]");
  Object.assign(temperature, { min: TEMPERATURE_SLIDER_MIN, max: info.temperature_max, step: TEMPERATURE_STEP });
  temperature.value = info.temperature_default;
  const grid = role(panel, "grid");
  const canvases = Array.from({ length: info.samples_default }, () => document.createElement("canvas"));
  grid.replaceChildren(...canvases);
  let seed = newSeed();
  const show = newestOnly(
    () => postJSON("/api/sample", { n: canvases.length, temperature: Number(temperature.value), seed }),
    (out) => {
      out.images.forEach((pixels, i) => draw(canvases[i], pixels, shape));
      grid.dataset.version = String(Number(grid.dataset.version || 0) + 1);
    },
    statusLine(panel));
  const showSoon = throttle(show, SAMPLE_SEND_MS);
  const refresh = () => {
    role(panel, "temperature").textContent = Number(temperature.value).toFixed(DECIMALS.temperature);
    showSoon();
  };
  temperature.addEventListener("input", refresh);
  $(panel, "button[name=resample]").addEventListener("click", () => { seed = newSeed(); refresh(); });
  refresh();
}
