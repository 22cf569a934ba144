// The live loss chart of one training run, drawn in the browser (an anywidget ES module).
//
// The kernel sends only new points, as custom messages {k: "points", t, d: {name: [[step, value], ...]}}
// (t: the kernel's wall clock, in ms, when the oldest of them was logged), and a full copy
// {k: "history", d} when a view asks for it (a reloaded page). Everything else (max_steps,
// best_step, status, the status line, the latest answers) is ordinary widget state.
// Drawn as SVG: a few hundred points redraw in well under a millisecond, stay sharp at any zoom
// and need no library.

const SVG = "http://www.w3.org/2000/svg";
// Preference runs (trainer.type dpo/kto/orpo) also log TRL's rewards, drawn in a second chart.
const REWARDS = ["chosen", "rejected", "margins", "accuracies"];
const PREFERENCE = REWARDS.flatMap((name) => [`rewards/${name}`, `eval_rewards/${name}`]);
const SERIES = ["loss", "eval_loss", "learning_rate", "epoch", ...PREFERENCE];
const REWARD_COLORS = { chosen: "#2ca02c", rejected: "#d62728", margins: "#9467bd", accuracies: "#8c564b" };
const REWARD_HEIGHT = 150;
const ACCURACY_HEIGHT = 64;
const COLORS = { raw: "rgba(31, 119, 180, 0.3)", loss: "#1f77b4", eval_loss: "#ff7f0e", lr: "#7f7f7f", best: "#2ca02c", epoch: "#bbbbbb" };
const MARGIN = { left: 56, right: 16, top: 8, bottom: 22 };
const LOSS_HEIGHT = 240;
const LR_HEIGHT = 64;
const GAP = 10;
const WATCHED = ["max_steps", "best_step", "status", "status_line", "samples", "foreground"];

// One store per widget model, shared by all its views (a cell output shown twice, a second tab).
const stores = new WeakMap();

function storeOf(model) {
  let store = stores.get(model);
  if (!store) {
    store = { series: Object.fromEntries(SERIES.map((name) => [name, []])), views: new Set(), lags: [], synced: false };
    stores.set(model, store);
    model.on("msg:custom", (msg) => receive(store, msg));
  }
  return store;
}

function receive(store, msg) {
  if (!msg || !msg.d) return;
  if (msg.k === "history") {
    for (const name of SERIES) store.series[name] = (msg.d[name] || []).slice();
    store.synced = true;
  } else if (msg.k === "points") {
    for (const [name, points] of Object.entries(msg.d)) {
      if (store.series[name]) store.series[name].push(...points);
    }
  } else {
    return;
  }
  for (const view of store.views) view.schedule(msg.t);
}

// TensorBoard's smoothing: an exponential moving average, debiased so it starts at the first value.
export function smooth(points, weight) {
  let last = 0;
  let count = 0;
  return points.map(([step, value]) => {
    count += 1;
    last = last * weight + (1 - weight) * value;
    const debias = weight === 1 ? 1 : 1 - Math.pow(weight, count);
    return [step, last / debias];
  });
}

// The first step of each epoch after the first: where the logged epoch passes a whole number.
export function epochBoundaries(epochs) {
  const marks = [];
  let previous = null;
  for (const [step, epoch] of epochs) {
    if (previous !== null && Math.floor(epoch + 1e-9) > Math.floor(previous + 1e-9)) {
      marks.push([step, Math.floor(epoch + 1e-9)]);
    }
    previous = epoch;
  }
  // An epoch ending exactly on the last logged step is the end of the run, not a boundary.
  const last = epochs.length ? epochs[epochs.length - 1][0] : null;
  return marks.filter(([step]) => step !== last);
}

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function fmt(value, digits = 4) {
  if (value === undefined || value === null || !isFinite(value)) return "";
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) return value.toExponential(2);
  return value.toFixed(abs >= 100 ? 1 : digits);
}

// Axis labels: as few digits as the value needs ("4", "2.5", "0.003"), as the final picture has.
function tickLabel(value) {
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) return value.toExponential(1);
  return String(+value.toPrecision(3));
}

function node(tag, attrs, parent) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  if (parent) parent.appendChild(el);
  return el;
}

function pathOf(points, x, y) {
  let d = "";
  for (const [step, value] of points) {
    const py = y(value);
    if (!isFinite(py)) continue;
    d += (d ? "L" : "M") + x(step).toFixed(1) + "," + py.toFixed(1);
  }
  return d;
}

function html(tag, className, parent, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  if (parent) parent.appendChild(el);
  return el;
}

class ChartView {
  constructor(model, el, store) {
    this.model = model;
    this.el = el;
    this.store = store;
    this.smoothing = 0.6;
    this.logScale = false;
    this.zoom = null; // [fromStep, toStep] or null for everything
    this.pending = null;
    this.hoverStep = null;
    this.build();
  }

  build() {
    const el = this.el;
    el.classList.add("llm-chart");
    const header = html("div", "llm-chart-header", el);
    html("span", "llm-chart-title", header, "Training loss");
    this.legend = html("span", "llm-chart-legend", header);
    const controls = html("span", "llm-chart-controls", header);
    const smoothLabel = html("label", "", controls, "smoothing ");
    this.smoothInput = html("input", "", smoothLabel);
    Object.assign(this.smoothInput, { type: "range", min: "0", max: "0.99", step: "0.01", value: String(this.smoothing) });
    this.smoothValue = html("span", "llm-chart-smooth-value", smoothLabel, this.smoothing.toFixed(2));
    this.smoothInput.addEventListener("input", () => {
      this.smoothing = Number(this.smoothInput.value);
      this.smoothValue.textContent = this.smoothing.toFixed(2);
      this.schedule();
    });
    const logLabel = html("label", "", controls);
    this.logInput = html("input", "", logLabel);
    this.logInput.type = "checkbox";
    logLabel.appendChild(document.createTextNode(" log scale"));
    this.logInput.addEventListener("change", () => { this.logScale = this.logInput.checked; this.schedule(); });
    this.resetButton = html("button", "llm-chart-button", controls, "reset zoom");
    this.resetButton.title = "Drag across the chart to zoom into steps; double-click also resets";
    this.resetButton.addEventListener("click", () => { this.zoom = null; this.schedule(); });
    this.stopButton = html("button", "llm-chart-button llm-chart-stop", controls, "Stop");
    this.stopButton.title = "Stop after the current step (checkpointed; resume with %llm_train --resume)";
    this.stopButton.addEventListener("click", () => {
      this.stopButton.disabled = true;
      this.stopButton.textContent = "Stopping...";
      this.model.send({ k: "stop" });
    });

    // A run in the foreground holds the kernel, which reads the button's message only after the
    // cell: there, interrupting the kernel is what stops it (after the current step, checkpointed).
    this.stopHint = html("div", "llm-chart-stop-hint", null,
      "To stop: interrupt the kernel (\u25a0 in the toolbar, or I, I); the run stops after its current step " +
      "and keeps a checkpoint to resume from.");
    this.plot = html("div", "llm-chart-plot", el);
    this.svg = node("svg", { class: "llm-chart-svg", role: "img", "aria-label": "training loss chart" }, this.plot);
    this.tooltip = html("div", "llm-chart-tooltip", this.plot);
    this.preference = html("div", "llm-chart-plot llm-chart-preference", el);
    this.preference.style.display = "none";
    this.prefLegend = html("div", "llm-chart-legend", this.preference);
    this.prefSvg = node("svg", { class: "llm-chart-pref-svg", role: "img", "aria-label": "preference rewards chart" }, this.preference);
    this.status = html("div", "llm-chart-status", el);
    el.appendChild(this.stopHint);
    this.samples = html("div", "llm-chart-samples", el);

    this.svg.addEventListener("mousemove", (event) => this.hover(event));
    this.svg.addEventListener("mouseleave", () => { this.hoverStep = null; this.tooltip.style.display = "none"; this.schedule(); });
    this.svg.addEventListener("mousedown", (event) => { this.dragFrom = this.stepAt(event); });
    this.svg.addEventListener("mouseup", (event) => {
      const to = this.stepAt(event);
      if (this.dragFrom !== undefined && to !== null && this.dragFrom !== null && Math.abs(to - this.dragFrom) >= 1) {
        this.zoom = [Math.min(this.dragFrom, to), Math.max(this.dragFrom, to)];
        this.schedule();
      }
      this.dragFrom = undefined;
    });
    this.svg.addEventListener("dblclick", () => { this.zoom = null; this.schedule(); });
    this.resize = new ResizeObserver(() => this.schedule());
    this.resize.observe(this.plot);
  }

  // Coalesce redraws into one per animation frame; `sentAt` (kernel ms) measures the lag.
  schedule(sentAt) {
    if (sentAt !== undefined && (this.pending === null || this.pending === undefined || sentAt < this.pending)) {
      this.pending = sentAt;
    }
    if (this.frame) return;
    const draw = () => {
      this.frame = null;
      this.draw();
      if (this.pending !== null && this.pending !== undefined) {
        const lag = Date.now() - this.pending;
        this.store.lags.push(lag);
        this.el.dataset.lastLagMs = String(lag);
        this.el.dataset.maxLagMs = String(Math.max(lag, Number(this.el.dataset.maxLagMs || 0)));
      }
      this.pending = null;
    };
    // Hidden tabs get no animation frames; draw anyway so a returning user sees the present.
    this.frame = document.hidden ? setTimeout(draw, 50) : requestAnimationFrame(draw);
  }

  visible(points) {
    if (!this.zoom) return points;
    return points.filter(([step]) => step >= this.zoom[0] && step <= this.zoom[1]);
  }

  draw() {
    const svg = this.svg;
    const width = Math.max(320, this.plot.clientWidth || 640);
    const height = MARGIN.top + LOSS_HEIGHT + GAP + LR_HEIGHT + MARGIN.bottom;
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    while (svg.firstChild) svg.removeChild(svg.firstChild);

    const s = this.store.series;
    const raw = this.visible(s.loss);
    const smoothed = this.visible(smooth(s.loss, this.smoothing));
    const evals = this.visible(s.eval_loss);
    const lrs = this.visible(s.learning_rate);
    const best = this.model.get("best_step");
    const all = [...raw, ...evals, ...lrs];
    const lastStep = all.reduce((m, [step]) => Math.max(m, step), 0);
    const x0 = this.zoom ? this.zoom[0] : 0;
    // The steps drawn so far, not max_steps: early in a long run the curve would be a sliver at
    // the left edge (the status line says how far the run has come).
    const x1 = this.zoom ? this.zoom[1] : Math.max(lastStep, 1);
    const plotLeft = MARGIN.left;
    const plotWidth = width - MARGIN.left - MARGIN.right;
    const x = (step) => plotLeft + ((step - x0) / Math.max(x1 - x0, 1e-9)) * plotWidth;
    this.xScale = { x0, x1, plotLeft, plotWidth };

    // The loss panel.
    const losses = [...raw, ...evals].map(([, v]) => v).filter((v) => isFinite(v) && (!this.logScale || v > 0));
    let lo = losses.length ? Math.min(...losses) : 0;
    let hi = losses.length ? Math.max(...losses) : 1;
    if (this.logScale) { lo = Math.log10(lo || 1e-3); hi = Math.log10(hi || 1); }
    if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
    const pad = (hi - lo) * 0.06;
    lo -= pad; hi += pad;
    const top = MARGIN.top;
    const y = (value) => {
      const v = this.logScale ? (value > 0 ? Math.log10(value) : NaN) : value;
      return top + (1 - (v - lo) / (hi - lo)) * LOSS_HEIGHT;
    };
    const g = node("g", {}, svg);
    node("rect", { x: plotLeft, y: top, width: plotWidth, height: LOSS_HEIGHT, class: "llm-chart-frame" }, g);
    // On the log scale too, ticks at round values of the loss (1.6, 1.8, 2), not of its logarithm.
    const ticks = this.logScale
      ? niceTicks(Math.pow(10, lo), Math.pow(10, hi), 5).filter((v) => v > 0)
      : niceTicks(lo, hi, 5);
    for (const tick of ticks) {
      const py = y(tick);
      node("line", { x1: plotLeft, x2: plotLeft + plotWidth, y1: py, y2: py, class: "llm-chart-grid" }, g);
      const label = node("text", { x: plotLeft - 6, y: py + 4, "text-anchor": "end", class: "llm-chart-tick" }, g);
      label.textContent = tickLabel(tick);
    }
    const axisLabel = node("text", { x: 12, y: top + LOSS_HEIGHT / 2, transform: `rotate(-90 12 ${top + LOSS_HEIGHT / 2})`, "text-anchor": "middle", class: "llm-chart-tick" }, g);
    axisLabel.textContent = this.logScale ? "loss (log)" : "loss";

    // The LR panel below, sharing the step axis.
    const lrTop = top + LOSS_HEIGHT + GAP;
    node("rect", { x: plotLeft, y: lrTop, width: plotWidth, height: LR_HEIGHT, class: "llm-chart-frame" }, g);
    const lrValues = lrs.map(([, v]) => v);
    const lrHi = lrValues.length ? Math.max(...lrValues) : 1;
    const lrY = (value) => lrTop + LR_HEIGHT - (value / (lrHi || 1)) * (LR_HEIGHT - 6);
    const lrLabel = node("text", { x: plotLeft - 6, y: lrTop + 10, "text-anchor": "end", class: "llm-chart-tick" }, g);
    lrLabel.textContent = lrValues.length ? tickLabel(lrHi) : "";
    const lrName = node("text", { x: 12, y: lrTop + LR_HEIGHT / 2, transform: `rotate(-90 12 ${lrTop + LR_HEIGHT / 2})`, "text-anchor": "middle", class: "llm-chart-tick" }, g);
    lrName.textContent = "lr";
    for (const tick of niceTicks(x0, x1, 8)) {
      const px = x(tick);
      node("line", { x1: px, x2: px, y1: top, y2: lrTop + LR_HEIGHT, class: "llm-chart-grid" }, g);
      const label = node("text", { x: px, y: lrTop + LR_HEIGHT + 15, "text-anchor": "middle", class: "llm-chart-tick" }, g);
      label.textContent = String(tick);
    }

    // Clip the curves to the panels (zoomed views).
    const clipId = `llm-chart-clip-${this.model.model_id || Math.random().toString(36).slice(2)}`;
    const defs = node("defs", {}, svg);
    const clip = node("clipPath", { id: clipId }, defs);
    node("rect", { x: plotLeft, y: top, width: plotWidth, height: lrTop + LR_HEIGHT - top }, clip);
    const curves = node("g", { "clip-path": `url(#${clipId})` }, svg);

    // Every boundary gets its line; a label that would overlap the previous one is left out
    // (many epochs in a narrow output: "epoch 9" over "epoch 10"), as in the final picture.
    let labelledUntil = -Infinity;
    for (const [step, epoch] of epochBoundaries(s.epoch)) {
      if (step < x0 || step > x1) continue;
      node("line", { x1: x(step), x2: x(step), y1: top, y2: lrTop + LR_HEIGHT, class: "llm-chart-epoch" }, curves);
      // Left of the line near the right edge, where the label would be cut off.
      const right = x(step) > plotLeft + plotWidth - 60;
      const label = node("text", { x: x(step) + (right ? -3 : 3), y: top + 11, "text-anchor": right ? "end" : "start",
                                   class: "llm-chart-epoch-label" }, curves);
      label.textContent = `epoch ${epoch + 1}`;
      // Measured where the page lays it out; 6 px a character where it does not (a hidden tab).
      const width = label.getComputedTextLength() || 6 * label.textContent.length;
      const start = right ? x(step) - 3 - width : x(step) + 3;
      if (start < labelledUntil + 6) {
        label.remove();
        continue;
      }
      labelledUntil = start + width;
    }
    if (best !== null && best !== undefined && best >= 0 && best >= x0 && best <= x1) {
      node("line", { x1: x(best), x2: x(best), y1: top, y2: lrTop + LR_HEIGHT, class: "llm-chart-best" }, curves);
    }
    node("path", { d: pathOf(raw, x, y), class: "llm-chart-raw" }, curves);
    node("path", { d: pathOf(smoothed, x, y), class: "llm-chart-loss" }, curves);
    node("path", { d: pathOf(evals, x, y), class: "llm-chart-eval" }, curves);
    for (const [step, value] of evals) {
      const attrs = { cx: x(step), cy: y(value), r: step === best ? 5 : 3, class: step === best ? "llm-chart-best-dot" : "llm-chart-eval-dot" };
      node("circle", attrs, curves);
    }
    node("path", { d: pathOf(lrs, x, lrY), class: "llm-chart-lr" }, curves);

    if (this.hoverStep !== null) {
      const px = x(this.hoverStep);
      node("line", { x1: px, x2: px, y1: top, y2: lrTop + LR_HEIGHT, class: "llm-chart-cursor" }, svg);
    }
    svg.dataset.points = String(s.loss.length + s.eval_loss.length + s.learning_rate.length);
    svg.dataset.lastStep = String(lastStep);
    svg.dataset.xRange = `${x0}-${x1}`;
    this.drawLegend(best, s);
    this.drawPreference(width, x, x0, x1);
    this.drawStatus();
  }

  // TRL's rewards of the chosen and rejected answers and their margin (lines: training; dots:
  // validation), and the share of rows whose chosen answer has the higher reward, below.
  drawPreference(width, x, x0, x1) {
    const s = this.store.series;
    const any = PREFERENCE.some((name) => s[name].length);
    this.preference.style.display = any ? "" : "none";
    if (!any) return;
    const svg = this.prefSvg;
    const top = MARGIN.top;
    const accTop = top + REWARD_HEIGHT + GAP;
    const height = accTop + ACCURACY_HEIGHT + MARGIN.bottom;
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const plotLeft = MARGIN.left;
    const plotWidth = width - MARGIN.left - MARGIN.right;
    const names = ["chosen", "rejected", "margins"];
    const values = names.flatMap((n) => [...this.visible(s[`rewards/${n}`]), ...this.visible(s[`eval_rewards/${n}`])])
      .map(([, v]) => v).filter((v) => isFinite(v));
    let lo = Math.min(0, ...values);
    let hi = Math.max(0, ...values);
    if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
    const pad = (hi - lo) * 0.06;
    lo -= pad; hi += pad;
    const y = (v) => top + (1 - (v - lo) / (hi - lo)) * REWARD_HEIGHT;
    const accY = (v) => accTop + ACCURACY_HEIGHT - v * ACCURACY_HEIGHT;
    node("rect", { x: plotLeft, y: top, width: plotWidth, height: REWARD_HEIGHT, class: "llm-chart-frame" }, svg);
    node("rect", { x: plotLeft, y: accTop, width: plotWidth, height: ACCURACY_HEIGHT, class: "llm-chart-frame" }, svg);
    for (const tick of niceTicks(lo, hi, 4)) {
      node("line", { x1: plotLeft, x2: plotLeft + plotWidth, y1: y(tick), y2: y(tick), class: tick === 0 ? "llm-chart-zero" : "llm-chart-grid" }, svg);
      node("text", { x: plotLeft - 6, y: y(tick) + 4, "text-anchor": "end", class: "llm-chart-tick" }, svg).textContent = tickLabel(tick);
    }
    for (const tick of [0, 0.5, 1]) {
      node("line", { x1: plotLeft, x2: plotLeft + plotWidth, y1: accY(tick), y2: accY(tick), class: "llm-chart-grid" }, svg);
      node("text", { x: plotLeft - 6, y: accY(tick) + 4, "text-anchor": "end", class: "llm-chart-tick" }, svg).textContent = String(tick);
    }
    for (const tick of niceTicks(x0, x1, 8)) {
      node("text", { x: x(tick), y: accTop + ACCURACY_HEIGHT + 15, "text-anchor": "middle", class: "llm-chart-tick" }, svg).textContent = String(tick);
    }
    const side = (label, mid) => {
      node("text", { x: 12, y: mid, transform: `rotate(-90 12 ${mid})`, "text-anchor": "middle", class: "llm-chart-tick" }, svg).textContent = label;
    };
    side("reward", top + REWARD_HEIGHT / 2);
    side("accuracy", accTop + ACCURACY_HEIGHT / 2);
    const draw = (name, scale, color) => {
      const train = this.visible(smooth(s[`rewards/${name}`], this.smoothing));
      node("path", { d: pathOf(train, x, scale), fill: "none", stroke: color, "stroke-width": 2 }, svg);
      for (const [step, value] of this.visible(s[`eval_rewards/${name}`])) {
        node("circle", { cx: x(step), cy: scale(value), r: 3, fill: color }, svg);
      }
    };
    for (const name of names) draw(name, y, REWARD_COLORS[name]);
    draw("accuracies", accY, REWARD_COLORS.accuracies);
    const key = "preference";
    if (this.prefLegendKey !== key) {
      this.prefLegendKey = key;
      this.prefLegend.textContent = "";
      html("span", "llm-chart-title", this.prefLegend, "Preference ");
      const labels = { chosen: "reward of chosen", rejected: "reward of rejected", margins: "margin (chosen - rejected)", accuracies: "accuracy (chosen > rejected)" };
      for (const name of REWARDS) {
        const item = html("span", "llm-chart-legend-item", this.prefLegend);
        html("span", "llm-chart-swatch", item).style.background = REWARD_COLORS[name];
        item.appendChild(document.createTextNode(labels[name]));
      }
      html("span", "llm-chart-legend-item", this.prefLegend, "lines: training (smoothed) · dots: validation");
    }
    svg.dataset.points = String(PREFERENCE.reduce((n, name) => n + s[name].length, 0));
  }

  drawLegend(best, s) {
    const items = [["raw", "training loss (raw)"], ["loss", `smoothed (${this.smoothing.toFixed(2)})`]];
    if (s.eval_loss.length) items.push(["eval_loss", "validation loss"]);
    items.push(["lr", "learning rate"]);
    if (best !== null && best !== undefined && best >= 0) items.push(["best", `best checkpoint (step ${best})`]);
    if (epochBoundaries(s.epoch).length) items.push(["epoch", "epoch boundary"]);
    const key = items.map((i) => i.join(":")).join("|");
    if (key === this.legendKey) return;
    this.legendKey = key;
    this.legend.textContent = "";
    for (const [name, label] of items) {
      const item = html("span", "llm-chart-legend-item", this.legend);
      const swatch = html("span", `llm-chart-swatch llm-chart-swatch-${name}`, item);
      swatch.style.background = COLORS[name];
      item.appendChild(document.createTextNode(label));
    }
  }

  drawStatus() {
    const status = this.model.get("status") || "";
    this.status.textContent = this.model.get("status_line") || "";
    const running = status === "running" || status === "starting";
    if (!running && !this.stopButton.disabled) {
      this.stopButton.disabled = true;
    }
    const foreground = Boolean(this.model.get("foreground"));
    this.stopButton.style.display = foreground ? "none" : "";
    this.stopHint.style.display = foreground && running ? "" : "none";
    const samples = this.model.get("samples") || {};
    const key = JSON.stringify(samples);
    if (key === this.samplesKey) return;
    this.samplesKey = key;
    this.samples.textContent = "";
    if (!samples.rows || !samples.rows.length) return;
    html("div", "llm-chart-samples-title", this.samples, `Answers at step ${samples.step}`);
    const table = html("table", "", this.samples);
    const head = html("tr", "", table);
    for (const label of ["prompt", "target", "model"]) html("th", "", head, label);
    for (const row of samples.rows) {
      const tr = html("tr", "", table);
      html("td", "", tr, String(row.prompt || "").slice(-80));
      html("td", "", tr, String(row.target ?? ""));
      html("td", "", tr, String(row.output || ""));
    }
  }

  stepAt(event) {
    if (!this.xScale) return null;
    const rect = this.svg.getBoundingClientRect();
    const { x0, x1, plotLeft, plotWidth } = this.xScale;
    const px = event.clientX - rect.left;
    if (px < plotLeft || px > plotLeft + plotWidth) return null;
    return Math.round(x0 + ((px - plotLeft) / plotWidth) * (x1 - x0));
  }

  hover(event) {
    const target = this.stepAt(event);
    const s = this.store.series;
    if (target === null || !s.loss.length) { this.tooltip.style.display = "none"; return; }
    const nearest = (points) => points.reduce((best, p) => (best === null || Math.abs(p[0] - target) < Math.abs(best[0] - target) ? p : best), null);
    const point = nearest(this.visible(s.loss)) || nearest(s.loss);
    const step = point[0];
    const at = (points) => { const p = points.find(([st]) => st === step); return p ? p[1] : undefined; };
    const smoothed = at(smooth(s.loss, this.smoothing));
    const lastEval = s.eval_loss.filter(([st]) => st <= step).pop();
    const lines = [`step ${step}` + (at(s.epoch) !== undefined ? `, epoch ${at(s.epoch).toFixed(2)}` : ""),
      `loss ${fmt(point[1])} (smoothed ${fmt(smoothed)})`];
    if (lastEval) lines.push(`validation loss ${fmt(lastEval[1])}` + (lastEval[0] !== step ? ` (step ${lastEval[0]})` : ""));
    if (at(s.learning_rate) !== undefined) lines.push(`lr ${fmt(at(s.learning_rate))}`);
    if (at(s["rewards/margins"]) !== undefined) {
      lines.push(`reward margin ${fmt(at(s["rewards/margins"]))}, accuracy ${fmt(at(s["rewards/accuracies"]), 2)}`);
    }
    this.tooltip.textContent = lines.join("\n");
    this.tooltip.style.display = "block";
    const rect = this.svg.getBoundingClientRect();
    const left = event.clientX - rect.left + 14;
    this.tooltip.style.left = `${Math.min(left, rect.width - 230)}px`;
    this.tooltip.style.top = `${event.clientY - rect.top + 10}px`;
    if (step !== this.hoverStep) { this.hoverStep = step; this.schedule(); }
  }
}

export default {
  initialize({ model }) {
    storeOf(model);
  },
  render({ model, el }) {
    const store = storeOf(model);
    const view = new ChartView(model, el, store);
    store.views.add(view);
    const redraw = () => view.schedule();
    for (const name of WATCHED) model.on(`change:${name}`, redraw);
    // A view of a run already under way (a reloaded page) asks the kernel for what it missed.
    if (!store.synced && !store.series.loss.length) model.send({ k: "history" });
    view.schedule();
    return () => {
      store.views.delete(view);
      view.resize.disconnect();
      for (const name of WATCHED) model.off(`change:${name}`, redraw);
    };
  },
};
