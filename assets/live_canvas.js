// The live trajectory canvas: gr.HTML's js_on_load body (element, props and watch come from Gradio).
// The server sends batches of compact frames (their format: diffusion_core/demo/wire.py) about five
// times a second; they are queued here and painted at most one per animation frame, spread evenly
// over the time until the next batch is due, so a fast run plays as motion and a slow one moves
// steadily. The queue never lags more than MAX_BACKLOG frames behind (older ones are dropped).
const canvas = element.querySelector("canvas.dm-canvas");
const ctx = canvas.getContext("2d");
const SIDE = canvas.width;          // the square plot area, in canvas pixels
const HEAD = 72;                    // title strip above it
const BAR = canvas.height - HEAD - SIDE;  // progress bar below it
const MAX_BACKLOG = 64;              // about a second at 60 fps: a whole fast run still plays
const MAX_GAP_MS = 100;             // never hold a frame longer than this while others wait
// The page's light and dark colours (Gradio marks dark mode with a "dark" class on <body>).
const PALETTES = {
  light: {paper: "#ffffff", ink: "#1f2937", axis: "#d1d5db", grid: "#eef0f4", bar: "#e5e7eb", legend: "#374151",
          blank: "#f3f4f6", guided: "#111827", sample: "#1f4e9c"},
  dark: {paper: "#0f172a", ink: "#e5e7eb", axis: "#475569", grid: "#1e293b", bar: "#334155", legend: "#cbd5e1",
         blank: "#1e293b", guided: "#f8fafc", sample: "#60a5fa"},
};
const isDark = () => document.body.classList.contains("dark");
const palette = () => PALETTES[isDark() ? "dark" : "light"];
const GUESS_COLOR = "#c0143c";      // the model's guess x̂0 (crimson: unlike any class colour)
// The learned field's arrows: the one the sampler follows, and in "all" mode the two it mixes.
const FIELD_STYLES = [
  ["unconditional", "#9ca3af", "unconditional"],
  ["conditional", "#f59f00", "conditional"],
  ["guided", "#111827", "guided"],
];
const TRAIL_COLOR = "#e8590c";
const TRAILS = 8;                   // samples whose paths are drawn while the field is shown
let trails = [];                    // per tracked sample, its [x, y] canvas positions so far
let trailStep = -1;
const backgrounds = new Map();      // background key -> pre-drawn canvas
let background = null;
let queue = [];
let raf = 0;
let lastMessageAt = null;
let messageGapMs = 0;               // running average of the time between batches
let frameGapMs = 0;                 // how long each frame stays up, so a batch lasts until the next
let nextPaintAt = 0;

// Counters for tests and bench/browser_fps.py: frames received and painted, paint times (ms).
const stats = window.diffusionLive = {
  messages: 0, received: 0, painted: 0, paintTimes: [], finalPainted: false, lastTitle: "", fieldPainted: 0, guessPainted: 0,
  reset() {
    this.messages = this.received = this.painted = this.fieldPainted = this.guessPainted = 0;
    this.paintTimes = []; this.finalPainted = false;
  },
};

function bytes(b64) {
  const text = atob(b64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function int16(b64) {
  const raw = bytes(b64);
  return new Int16Array(raw.buffer, 0, raw.length >> 1);
}

// int16 q encodes x = q · 2·limit / 32767 (wire.py) and the view is [-limit, limit]: pixel = (q/32767 + 1/2) · SIDE.
const px = (q) => (q / 32767 + 0.5) * SIDE;
const py = (q) => (0.5 - q / 32767) * SIDE;

function drawGrid(g, limit) {
  g.fillStyle = palette().paper;
  g.fillRect(0, 0, SIDE, SIDE);
  g.lineWidth = 2;
  for (let k = -Math.floor(limit); k <= Math.floor(limit); k++) {
    const at = (k / limit + 1) / 2 * SIDE;
    g.strokeStyle = k === 0 ? palette().axis : palette().grid;
    g.beginPath(); g.moveTo(at, 0); g.lineTo(at, SIDE); g.stroke();
    g.beginPath(); g.moveTo(0, SIDE - at); g.lineTo(SIDE, SIDE - at); g.stroke();
  }
}

function buildBackground(picture) {
  const layer = document.createElement("canvas");
  layer.width = layer.height = SIDE;
  const g = layer.getContext("2d");
  drawGrid(g, picture.limit);
  const xy = int16(picture.xy);
  const labels = bytes(picture.labels);
  const classes = new Set(labels);
  for (const label of classes) {
    const chosen = picture.highlight < 0 || picture.highlight === label;
    g.globalAlpha = chosen ? 0.33 : 0.1;
    g.fillStyle = picture.colors[label % picture.colors.length];
    g.beginPath();
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] !== label) continue;
      g.moveTo(px(xy[2 * i]) + 4, py(xy[2 * i + 1]));
      g.arc(px(xy[2 * i]), py(xy[2 * i + 1]), 4, 0, 2 * Math.PI);
    }
    g.fill();
  }
  g.globalAlpha = 1;
  return layer;
}

function paintHeader(frame) {
  ctx.fillStyle = palette().paper;
  ctx.fillRect(0, 0, SIDE, HEAD);
  ctx.fillStyle = palette().ink;
  // At least 13 CSS pixels tall however small the canvas is shown (a phone shows it at a third).
  const shown = canvas.clientWidth || SIDE;
  const size = Math.min(56, Math.max(34, Math.round(13 * SIDE / shown)));
  ctx.font = `600 ${size}px ui-sans-serif, system-ui, sans-serif`;
  ctx.textBaseline = "middle";
  const guess = frame.x0 || frame.x0_pixels;
  ctx.fillText(frame.title || "", 18, HEAD / 2, guess ? SIDE - 300 : SIDE - 36);
  if (guess) legend(frame.kind === "images" ? ["left: x_t", "right: x̂₀"] : ["x_t", "x̂₀ (guess)"]);
  ctx.fillStyle = palette().bar;
  ctx.fillRect(0, HEAD + SIDE, SIDE, BAR);
  ctx.fillStyle = palette().sample;
  ctx.fillRect(0, HEAD + SIDE, SIDE * (frame.progress || 0), BAR);
}

function legend(labels) {
  ctx.font = "500 26px ui-sans-serif, system-ui, sans-serif";
  let x = SIDE - 18;
  [[labels[1], GUESS_COLOR], [labels[0], palette().sample]].forEach(([label, color]) => {
    x -= ctx.measureText(label).width;
    ctx.fillStyle = palette().legend;
    ctx.fillText(label, x, HEAD / 2);
    x -= 26;
    ctx.fillStyle = color;
    ctx.fillRect(x, HEAD / 2 - 8, 16, 16);
    x -= 22;
  });
}

// A key in the plot's bottom-right corner: which arrows are which, and the sample paths.
function fieldLegend(field) {
  const entries = FIELD_STYLES.filter(([name]) => field[name])
    .map(([name, color, label]) => [label + " score", name === "guided" ? palette().guided : color]);
  entries.push(["paths of 8 samples", TRAIL_COLOR]);
  ctx.font = "500 24px ui-sans-serif, system-ui, sans-serif";
  const width = Math.max(...entries.map(([label]) => ctx.measureText(label).width)) + 56;
  const height = 34 * entries.length + 12;
  const left = SIDE - width - 12, top = HEAD + SIDE - height - 12;
  ctx.globalAlpha = 0.85;
  ctx.fillStyle = palette().paper;
  ctx.fillRect(left, top, width, height);
  ctx.globalAlpha = 1;
  ctx.textBaseline = "middle";
  entries.forEach(([label, color], k) => {
    const y = top + 23 + 34 * k;
    ctx.fillStyle = color;
    ctx.fillRect(left + 12, y - 3, 24, 6);
    ctx.fillStyle = palette().legend;
    ctx.fillText(label, left + 46, y);
  });
}

function dots(encoded, color, alpha, size) {
  const xy = int16(encoded);
  ctx.fillStyle = color;
  ctx.globalAlpha = alpha;
  ctx.beginPath();
  for (let i = 0; i < xy.length; i += 2) ctx.rect(px(xy[i]) - size / 2, HEAD + py(xy[i + 1]) - size / 2, size, size);
  ctx.fill();
}

function int8(b64) {
  const raw = bytes(b64);
  return new Int8Array(raw.buffer, 0, raw.length);
}

// Arrows on a size × size grid inside the view (the grid of diffusion_core/field.py: grid_points),
// each an int8 pair whose length (≤ 127) is relative to the longest arrow of its field.
function arrows(field) {
  const size = field.size;
  const cell = SIDE / (size + 1);
  const reach = 0.9 * cell;
  ctx.lineWidth = 3;
  for (const [name, styled] of FIELD_STYLES) {
    const color = name === "guided" ? palette().guided : styled;
    if (!field[name]) continue;
    const v = int8(field[name]);
    ctx.strokeStyle = ctx.fillStyle = color;
    ctx.globalAlpha = name === "guided" ? 0.75 : 0.6;
    for (let k = 0; k < size * size; k++) {
      const x = ((k % size) + 1) * cell, y = HEAD + SIDE - (Math.floor(k / size) + 1) * cell;
      const dx = v[2 * k] / 127 * reach, dy = -v[2 * k + 1] / 127 * reach;
      const length = Math.hypot(dx, dy);
      if (length < 2) { ctx.fillRect(x - 1.5, y - 1.5, 3, 3); continue; }
      const ux = dx / length, uy = dy / length, head = Math.min(12, 0.45 * length);
      ctx.beginPath();
      ctx.moveTo(x, y); ctx.lineTo(x + dx, y + dy);
      ctx.moveTo(x + dx - head * (ux - 0.5 * uy), y + dy - head * (uy + 0.5 * ux));
      ctx.lineTo(x + dx, y + dy);
      ctx.lineTo(x + dx - head * (ux + 0.5 * uy), y + dy - head * (uy - 0.5 * ux));
      ctx.stroke();
    }
  }
  ctx.globalAlpha = 1;
}

// The paths of the first TRAILS samples, frame by frame since the run started.
function paintTrails(frame) {
  const xy = int16(frame.xy);
  if (frame.index <= trailStep || !trails.length) trails = [];
  trailStep = frame.index;
  const count = Math.min(TRAILS, xy.length >> 1);
  for (let i = 0; i < count; i++) {
    (trails[i] = trails[i] || []).push([px(xy[2 * i]), HEAD + py(xy[2 * i + 1])]);
  }
  ctx.strokeStyle = ctx.fillStyle = TRAIL_COLOR;
  ctx.lineWidth = 4;
  ctx.globalAlpha = 0.9;
  for (const path of trails) {
    ctx.beginPath();
    path.forEach(([x, y], j) => (j ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.stroke();
    const [x, y] = path[path.length - 1];
    ctx.beginPath(); ctx.arc(x, y, 8, 0, 2 * Math.PI); ctx.fill();
  }
  ctx.globalAlpha = 1;
}

function paintPoints(frame) {
  if (background) ctx.drawImage(background, 0, HEAD);
  else { ctx.save(); ctx.translate(0, HEAD); drawGrid(ctx, frame.limit || 3.2); ctx.restore(); }
  if (!frame.xy) return;
  ctx.save();
  ctx.beginPath();
  ctx.rect(0, HEAD, SIDE, SIDE);
  ctx.clip();
  if (frame.x0) {
    dots(frame.x0, GUESS_COLOR, 0.45, 5);
    stats.guessPainted += 1;
  }
  dots(frame.xy, palette().sample, 0.8, 6);
  if (frame.field) {
    arrows(frame.field);
    paintTrails(frame);
    fieldLegend(frame.field);
    stats.fieldPainted += 1;
  }
  ctx.restore();
}

function greyLayer(encoded, width, height) {
  const grey = bytes(encoded);
  const image = new ImageData(width, height);
  for (let i = 0; i < grey.length; i++) {
    image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = grey[i];
    image.data[4 * i + 3] = 255;
  }
  const layer = document.createElement("canvas");
  layer.width = width; layer.height = height;
  layer.getContext("2d").putImageData(image, 0, 0);
  return layer;
}

function paintImages(frame) {
  ctx.fillStyle = "#111827";
  ctx.fillRect(0, HEAD, SIDE, SIDE);
  const panels = [frame.pixels, frame.x0_pixels].filter(Boolean);
  const room = SIDE / panels.length;  // side by side: x_t, then the guess x̂0
  const scale = Math.min(room / frame.width, SIDE / frame.height) * (panels.length > 1 ? 0.97 : 1);
  const w = frame.width * scale, h = frame.height * scale;
  ctx.imageSmoothingEnabled = false;
  if (frame.x0_pixels) stats.guessPainted += 1;
  panels.forEach((encoded, k) => {
    ctx.drawImage(greyLayer(encoded, frame.width, frame.height), k * room + (room - w) / 2, HEAD + (SIDE - h) / 2, w, h);
  });
}

function paintBlank(frame) {
  if (background) ctx.drawImage(background, 0, HEAD);
  else { ctx.fillStyle = palette().blank; ctx.fillRect(0, HEAD, SIDE, SIDE); }
}

function paint(frame) {
  if (frame.kind === "images") paintImages(frame);
  else if (frame.kind === "points") paintPoints(frame);
  else paintBlank(frame);
  paintHeader(frame);
  canvas.dataset.title = frame.title || "";
  canvas.setAttribute("aria-label", `live view of the sampler: ${frame.title || ""}`);
}

function tick(now) {
  raf = 0;
  if (queue.length > MAX_BACKLOG) queue.splice(0, queue.length - MAX_BACKLOG);
  if (now < nextPaintAt && !queue[queue.length - 1].final) {
    raf = requestAnimationFrame(tick);
    return;
  }
  nextPaintAt = now + frameGapMs;
  const frame = queue.shift();
  if (frame) {
    paint(frame);
    stats.painted += 1;
    stats.lastTitle = frame.title || "";
    if (stats.paintTimes.length < 10000) stats.paintTimes.push(performance.now());
    if (frame.final) stats.finalPainted = true;
  }
  if (queue.length) raf = requestAnimationFrame(tick);
}

function receive(text) {
  if (!text) return;
  let message;
  try { message = JSON.parse(text); } catch (error) { return; }
  stats.messages += 1;
  const now = performance.now();
  if (message.mode === "replace") {
    queue = [];
    trails = [];
    trailStep = -1;
    lastMessageAt = null;
    messageGapMs = frameGapMs = nextPaintAt = 0;
  }
  if (lastMessageAt !== null) messageGapMs = 0.7 * messageGapMs + 0.3 * (now - lastMessageAt);
  lastMessageAt = now;
  if ("background" in message) {
    const picture = message.background;
    if (!picture) background = null;
    else {
      const key = `${picture.key}:${isDark() ? "dark" : "light"}`;  // drawn on the page's paper
      if (!backgrounds.has(key)) backgrounds.set(key, buildBackground(picture));
      background = backgrounds.get(key);
    }
  }
  const frames = message.frames || [];
  frames.forEach((frame, i) => queue.push(message.final && i === frames.length - 1 ? { ...frame, final: true } : frame));
  if (message.final && !frames.length) {  // the end alone: the frame it ends on is queued or already painted
    if (queue.length) queue[queue.length - 1] = { ...queue[queue.length - 1], final: true };
    else stats.finalPainted = true;
  }
  stats.received += frames.length;
  if (frames.length) frameGapMs = Math.min(messageGapMs / (queue.length || 1), MAX_GAP_MS);
  if (!raf && queue.length) raf = requestAnimationFrame(tick);
}

receive(props.value);
watch("value", () => receive(props.value));
