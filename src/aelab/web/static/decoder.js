// Decode in the browser, so a latent slider never waits on the server. The server describes its
// decoder layer by layer (/api/info's decoder_layers) and sends their weights in that order
// (/api/decoder); this runs the layers on a code, then a sigmoid, as the model's decode does.
// Activations are flat Float32Arrays: a conv layer's planes channel-major, each row-major.

// Each maker takes its layer's weights from the buffer and returns a function of the layer's input.
// Every layer writes into its own buffer, allocated once: a drag decodes hundreds of times.
// out[0..n) += value * weights[start..start + n), four at a time: unrolled, V8's code for this
// loop runs about twice as fast, and it is nearly all of a decode's time.
function axpy(out, value, weights, start, n) {
  const whole = n - (n % 4);
  let j = 0;
  for (; j < whole; j += 4) {
    out[j] += value * weights[start + j];
    out[j + 1] += value * weights[start + j + 1];
    out[j + 2] += value * weights[start + j + 2];
    out[j + 3] += value * weights[start + j + 3];
  }
  for (; j < n; j++) out[j] += value * weights[start + j];
}

const LAYERS = {
  // Computed column by column (out += x[i] * column i), so a zero input, as most are after a
  // ReLU, is skipped whole, and the inner loop runs over contiguous memory.
  linear({ inputs, outputs }, take) {
    const [weight, bias] = [take(outputs * inputs), take(outputs)];  // PyTorch's outputs x inputs
    const columns = new Float32Array(inputs * outputs);
    for (let o = 0; o < outputs; o++) {
      for (let i = 0; i < inputs; i++) columns[i * outputs + o] = weight[o * inputs + i];
    }
    const out = new Float32Array(outputs);
    return (x) => {
      out.set(bias);
      for (let i = 0; i < inputs; i++) {
        if (x[i] !== 0) axpy(out, x[i], columns, i * outputs, outputs);
      }
      return out;
    };
  },

  relu(_, take, size) {
    const out = new Float32Array(size);
    return (x) => {
      for (let i = 0; i < size; i++) out[i] = x[i] > 0 ? x[i] : 0;
      return out;
    };
  },

  // A transposed convolution spreads each input pixel over a kernel-sized patch of every output
  // plane, `stride` apart. Per input pixel, the patches of all output channels are one sum of
  // weight rows over the input channels (PyTorch's in x (out x kernel x kernel) layout, contiguous,
  // zero inputs skipped); then they are added into the output where they land.
  conv_transpose({ in_shape: [inC, inH, inW], out_shape: [outC, outH, outW], kernel, stride, padding }, take) {
    const taps = kernel * kernel;
    const row = outC * taps;
    const [weight, bias] = [take(inC * row), take(outC)];
    const [inPlane, outPlane] = [inH * inW, outH * outW];
    const patches = new Float32Array(row);
    const out = new Float32Array(outC * outPlane);
    return (x) => {
      for (let c = 0; c < outC; c++) out.fill(bias[c], c * outPlane, (c + 1) * outPlane);
      for (let y = 0; y < inH; y++) {
        for (let xi = 0; xi < inW; xi++) {
          patches.fill(0);
          let any = false;
          for (let ci = 0; ci < inC; ci++) {
            const value = x[ci * inPlane + y * inW + xi];
            if (value === 0) continue;
            any = true;
            axpy(patches, value, weight, ci * row, row);
          }
          if (!any) continue;
          for (let ky = 0; ky < kernel; ky++) {
            const oy = y * stride - padding + ky;
            if (oy < 0 || oy >= outH) continue;
            for (let kx = 0; kx < kernel; kx++) {
              const ox = xi * stride - padding + kx;
              if (ox < 0 || ox >= outW) continue;
              const at = oy * outW + ox;
              const tap = ky * kernel + kx;
              for (let co = 0; co < outC; co++) out[co * outPlane + at] += patches[co * taps + tap];
            }
          }
        }
      }
      return out;
    };
  },
};

// How many numbers a layer gives, so the next one (a ReLU) can size its buffer.
const outputSize = (layer, size) => (layer.kind === "linear" ? layer.outputs
  : layer.kind === "conv_transpose" ? layer.out_shape.reduce((a, b) => a * b) : size);

export function makeDecoder(buffer, info) {
  const all = new Float32Array(buffer);
  let offset = 0;
  const take = (n) => all.subarray(offset, (offset += n));
  let size = info.bottleneck;
  const layers = info.decoder_layers.map((layer) => {
    if (!(layer.kind in LAYERS)) throw new Error(`this page cannot decode a ${layer.kind} layer`);
    const run = LAYERS[layer.kind](layer, take, size);
    size = outputSize(layer, size);
    return run;
  });
  const nOut = info.channels * info.image_shape[0] * info.image_shape[1];
  if (offset !== all.length || size !== nOut) throw new Error("the decoder weights do not match the model's shape");
  const out = new Float32Array(nOut);
  return (code) => {
    const logits = layers.reduce((x, layer) => layer(x), code);
    for (let k = 0; k < nOut; k++) out[k] = 1 / (1 + Math.exp(-logits[k]));
    return out;
  };
}
