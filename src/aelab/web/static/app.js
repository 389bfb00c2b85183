// The explorer page: its panels over the JSON API. Plain browser JavaScript modules, no build step.
import { api, COLOUR, fitCanvases, getJSON, imageShape } from "./common.js";
import { makeDecoder } from "./decoder.js";
import { setupDraw, setupUpload } from "./draw_upload.js";
import { setupDenoise, setupInterpolate, setupLatent, setupReconstruct, setupSample } from "./panels.js";

const WARM_UP_DECODES = 20;
const MAX_LISTED_CLASSES = 10; // the header names this many classes, then says how many there are

function describeModel(info, shape) {
  const size = `${shape.height}x${shape.width}${shape.channels === COLOUR ? " colour" : ""}`;
  const parts = [info.dataset, size,
                 // layer_sizes starts with the family's name, except the lab's mlp's
                 `${info.family} autoencoder ${info.layer_sizes.split(" ").pop()}`,
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
    // not on the user's first drag, with codes the sliders can reach (a zero code skips work).
    for (let i = 0; i < WARM_UP_DECODES; i++) {
      decode(info.sliders.map(({ low, high }) => low + Math.random() * (high - low)));
    }
    const shape = imageShape(info);
    fitCanvases(shape);
    document.getElementById("model-info").textContent = describeModel(info, shape);
    // Exposed so a test can check the browser's decoder against the server's.
    window.explorer = { info, shape, decode: (code) => Array.from(decode(code)) };
    setupReconstruct(document.getElementById("reconstruct"), info, shape);
    setupDenoise(document.getElementById("denoise"), info, shape);
    setupInterpolate(document.getElementById("interpolate"), info, shape);
    setupLatent(document.getElementById("latent"), info, shape, decode);
    setupSample(document.getElementById("sample"), info, shape);
    setupDraw(document.getElementById("draw"), info, shape);
    setupUpload(document.getElementById("upload"), info, shape);
  } catch (error) {
    const line = document.getElementById("page-error");
    line.textContent = `Could not load the model: ${error.message}`;
    line.hidden = false;
  }
}

main();
