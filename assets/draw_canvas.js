// The drawing canvas of "Your own data": gr.HTML's js_on_load body (element comes from Gradio).
// Strokes are kept in canvas pixels (y down), one class colour each, and written as JSON
// {"strokes": [{"class": k, "points": [[x, y], ...]}, ...]} into the hidden #own-strokes textbox,
// which is what the Train button sends (diffusion_core/data/custom.py: from_strokes).
const canvas = element.querySelector("canvas.own-canvas");
const ctx = canvas.getContext("2d");
const COLORS = ["#E69F00", "#009E73", "#CC79A7"];  // plots.CLASS_COLORS: orange, green, pink
let strokes = [];
let current = null;
let colour = 0;

function target() {
  return document.querySelector("#own-strokes textarea, #own-strokes input");
}

function publish() {
  const box = target();
  if (!box) return;
  box.value = strokes.length ? JSON.stringify({strokes}) : "";
  box.dispatchEvent(new Event("input", {bubbles: true}));
  const count = element.querySelector(".own-count");
  if (count) count.textContent = strokes.length ? `${strokes.length} stroke${strokes.length > 1 ? "s" : ""}` : "empty";
  canvas.setAttribute("aria-label", `drawing canvas, ${strokes.length} strokes drawn`);
}

function paint() {
  const dark = document.body.classList.contains("dark");
  ctx.fillStyle = dark ? "#0f172a" : "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = dark ? "#334155" : "#e5e7eb";
  ctx.lineWidth = 1;
  ctx.strokeRect(0.5, 0.5, canvas.width - 1, canvas.height - 1);
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.lineWidth = 6;
  for (const stroke of strokes) {
    ctx.strokeStyle = ctx.fillStyle = COLORS[stroke.class];
    const [first, ...rest] = stroke.points;
    if (!rest.length) { ctx.beginPath(); ctx.arc(first[0], first[1], 4, 0, 2 * Math.PI); ctx.fill(); continue; }
    ctx.beginPath();
    ctx.moveTo(first[0], first[1]);
    for (const [x, y] of rest) ctx.lineTo(x, y);
    ctx.stroke();
  }
  if (!strokes.length) {
    ctx.fillStyle = dark ? "#94a3b8" : "#6b7280";
    ctx.font = "22px sans-serif";
    ctx.textAlign = "center";
    ctx.fillText("draw here: a spiral, a heart, your name", canvas.width / 2, canvas.height / 2);
  }
}

function at(event) {
  const box = canvas.getBoundingClientRect();
  return [Math.round((event.clientX - box.left) * canvas.width / box.width),
          Math.round((event.clientY - box.top) * canvas.height / box.height)];
}

canvas.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  current = {class: colour, points: [at(event)]};
  strokes.push(current);
  paint();
});
canvas.addEventListener("pointermove", (event) => {
  if (!current) return;
  const point = at(event), last = current.points[current.points.length - 1];
  if (Math.hypot(point[0] - last[0], point[1] - last[1]) >= 3) { current.points.push(point); paint(); }
});
for (const name of ["pointerup", "pointercancel"]) {
  canvas.addEventListener(name, () => { if (current) { current = null; publish(); } });
}
element.querySelectorAll("button[data-class]").forEach((button) => {
  button.addEventListener("click", () => {
    colour = Number(button.dataset.class);
    element.querySelectorAll("button[data-class]").forEach((b) => b.setAttribute("aria-pressed", b === button));
  });
});
element.querySelector("button.own-undo").addEventListener("click", () => { strokes.pop(); paint(); publish(); });
element.querySelector("button.own-clear").addEventListener("click", () => { strokes = []; paint(); publish(); });
new MutationObserver(paint).observe(document.body, {attributes: true, attributeFilter: ["class"]});
paint();
