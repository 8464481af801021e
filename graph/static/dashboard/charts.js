// The two small charts (uPlot, vendored): mark price per perpetual and accounts per
// margin-ratio band over the last minutes. A stale stretch is a gap (null samples).

import uPlot from "/static/vendor/uPlot.esm.js";
import { BANDS, HISTORY_SECONDS } from "./model.js";

const BAND_COLOURS = ["#2e9d5b", "#d9a21b", "#e0672c", "#c62828"];
const MARK_COLOURS = ["var(--brand-primary)", "#7b61ff", "#00a3a3", "#c2185b"];
const HEIGHT = 170;

function axes(textColour) {
  const axis = { stroke: textColour, grid: { stroke: "rgba(127,127,127,0.15)" }, ticks: { show: false } };
  return [axis, { ...axis, size: 64 }];
}

/** From the first sample (at least a minute back) to the last, at most HISTORY_SECONDS. */
function visibleSpan(min, max) {
  const end = max ?? Date.now() / 1000;
  const start = Math.max(end - HISTORY_SECONDS, Math.min(min ?? end, end - 60));
  return [start, end];
}

function resolved(colour, element) {
  if (!colour.startsWith("var(")) return colour;
  const name = colour.slice(4, -1);
  return getComputedStyle(element).getPropertyValue(name).trim() || "#0b5fff";
}

export class LineChart {
  /** @param {(model) => {labels: string[], data: number[][]}} select */
  constructor(element, select, colours, yRange, stepped = false) {
    this.stepped = stepped;
    this.element = element;
    this.select = select;
    this.colours = colours;
    this.yRange = yRange;
    this.labels = null;
    this.plot = null;
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(element);
  }

  destroy() {
    this.observer.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }

  update(model) {
    const { labels, data } = this.select(model);
    if (!this.plot || labels.join("|") !== this.labels.join("|")) this.build(labels, data);
    else this.plot.setData(data);
  }

  build(labels, data) {
    if (this.plot) this.plot.destroy();
    this.labels = labels;
    const text = getComputedStyle(this.element).color;
    const series = [{}].concat(labels.map((label, index) => ({
      label,
      stroke: resolved(this.colours[index % this.colours.length], this.element),
      width: 2,
      spanGaps: false,
      points: { show: false },
      paths: this.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined,
    })));
    this.plot = new uPlot({
      width: Math.max(this.element.clientWidth, 200),
      height: HEIGHT,
      series,
      axes: axes(text),
      legend: { live: false },
      cursor: { show: false },
      scales: {
        x: { time: true, range: (u, min, max) => visibleSpan(min, max) },
        y: { range: (u, min, max) => this.yRange(min, max) },
      },
    }, data, this.element);
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: Math.max(this.element.clientWidth, 200), height: HEIGHT });
  }
}

export function markChart(element) {
  return new LineChart(element, (model) => {
    const markets = [...model.history.marks.keys()].sort();
    return { labels: markets, data: [model.history.t, ...markets.map((m) => model.history.marks.get(m))] };
  }, MARK_COLOURS, (min, max) => (min === null ? [0, 1] : uPlot.rangeNum(min, max, 0.1, true)));
}

export function bandChart(element) {
  return new LineChart(element, (model) => ({
    labels: BANDS,
    data: [model.history.t, ...model.history.bands],
  }), BAND_COLOURS, (min, max) => [0, Math.max(2, Math.ceil((max || 0) * 1.2))], true);
}
