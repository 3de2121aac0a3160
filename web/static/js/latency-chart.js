// A monitor's latency over time, drawn with uPlot: the total, its phases
// stacked beneath it, failed checks as red points and high anomaly scores as
// markers on a second axis. Colours come from the page's CSS variables, so the
// chart follows the theme; it is rebuilt (cheaply) whenever what it shows
// changes shape: a series toggled, a new phase seen, the theme switched.

import uPlot from "../vendor/uPlot.esm.js";
import { formatMs } from "./dom.js";

/** Anomaly scores at or above this are marked on the chart. */
export const ANOMALY_THRESHOLD = 0.5;

/** Phases in the order a check passes them; others follow by name. */
const PHASE_ORDER = ["dns", "connect", "tls", "first_byte"];

export const PHASE_LABELS = {
  dns: "DNS",
  connect: "Connect",
  tls: "TLS",
  first_byte: "First byte",
};

const SELECT_MIN_PX = 6;

/** A result's anomaly score in [0, 1], or null when it has none. */
export function anomalyScore(result) {
  const score = result.details?.anomaly_score ?? result.anomaly_score ?? result.anomaly?.score;
  return typeof score === "number" ? score : null;
}

/** The phases of a result other than the total, as {name: ms}. */
function phasesOf(result) {
  const phases = result.phases || {};
  const found = {};
  for (const [name, value] of Object.entries(phases)) {
    if (name !== "total" && typeof value === "number") found[name] = value;
  }
  return found;
}

function phaseRank(name) {
  const at = PHASE_ORDER.indexOf(name);
  return at === -1 ? PHASE_ORDER.length : at;
}

function sortPhases(names) {
  return [...names].sort((a, b) => phaseRank(a) - phaseRank(b) || a.localeCompare(b));
}

function withAlpha(colour, alpha) {
  const hex = colour.trim();
  if (!/^#[0-9a-f]{6}$/i.test(hex)) return hex;
  const channels = [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16));
  return `rgba(${channels.join(", ")}, ${alpha})`;
}

/** An axis's tick labels, with as many decimals as the tick spacing needs. */
function axisMs(splits) {
  const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : 1;
  const decimals = (spacing) => Math.max(0, Math.min(3, -Math.floor(Math.log10(spacing))));
  return splits.map((ms) => {
    if (ms === 0) return "0";
    if (ms < 1000) return `${+ms.toFixed(decimals(step))} ms`;
    return `${+(ms / 1000).toFixed(decimals(step / 1000))} s`;
  });
}

/**
 * The chart in a container element. Callbacks:
 *   onZoom(since, until) when the user drag-selects a span,
 *   onPoint(result or null) as the cursor moves over the checks.
 */
export class LatencyChart {
  constructor(container, { onZoom, onPoint } = {}) {
    this.container = container;
    this.onZoom = onZoom || (() => {});
    this.onPoint = onPoint || (() => {});
    this.rows = [];
    this.min = Date.now() / 1000 - 86400;
    this.max = Date.now() / 1000;
    this.phases = [];
    this.hidden = new Set();
    this.plot = null;
    this.resizer = new ResizeObserver(() => this.fit());
    this.resizer.observe(container);
    this.themeWatch = new MutationObserver(() => this.rebuild());
    this.themeWatch.observe(document.documentElement, {
      attributes: true,
      attributeFilter: ["data-theme", "style"],
    });
    this.scheme = matchMedia("(prefers-color-scheme: dark)");
    this.onScheme = () => this.rebuild();
    this.scheme.addEventListener("change", this.onScheme);
  }

  /** The series a user can hide: each phase seen, failures and anomalies. */
  toggles() {
    return [
      ...this.phases.map((name) => ({ key: name, label: PHASE_LABELS[name] || name })),
      { key: "failed", label: "Failed checks" },
      { key: "anomaly", label: `Anomaly score ≥ ${ANOMALY_THRESHOLD}` },
    ].map((toggle) => ({ ...toggle, shown: !this.hidden.has(toggle.key) }));
  }

  setShown(key, shown) {
    if (shown) this.hidden.delete(key);
    else this.hidden.add(key);
    this.rebuild();
  }

  /** Show these results (any order) over the span from min to max. */
  show(results, min, max) {
    this.rows = [...results].sort((a, b) => a.started_at - b.started_at);
    this.min = min;
    this.max = max;
    this.refresh();
  }

  /** Add a live result and slide the span to [min, max], dropping what falls out. */
  add(result, min, max) {
    const last = this.rows[this.rows.length - 1];
    if (last && result.started_at <= last.started_at) return;
    this.rows.push(result);
    let first = 0;
    while (first < this.rows.length && this.rows[first].started_at < min) first += 1;
    if (first) this.rows = this.rows.slice(first);
    this.min = min;
    this.max = max;
    this.refresh();
  }

  refresh() {
    const seen = new Set();
    for (const row of this.rows) {
      for (const name of Object.keys(phasesOf(row))) seen.add(name);
    }
    const phases = sortPhases(seen);
    if (!this.plot || phases.join() !== this.phases.join()) {
      this.phases = phases;
      this.rebuild();
    } else {
      this.plot.setData(this.data());
    }
  }

  shownPhases() {
    return this.phases.filter((name) => !this.hidden.has(name));
  }

  /** uPlot's columns: time, each shown phase stacked, total, failures, anomalies. */
  data() {
    const phases = this.shownPhases();
    const count = this.rows.length;
    const columns = [new Array(count)];
    const stacks = phases.map(() => new Array(count));
    const total = new Array(count);
    const failed = new Array(count);
    const anomaly = new Array(count);
    for (let at = 0; at < count; at += 1) {
      const row = this.rows[at];
      columns[0][at] = row.started_at;
      const parts = phasesOf(row);
      const any = phases.some((name) => name in parts);
      let sum = 0;
      phases.forEach((name, index) => {
        sum += parts[name] || 0;
        stacks[index][at] = any ? sum : null;
      });
      const latency = row.latency_ms ?? row.phases?.total ?? null;
      total[at] = latency;
      failed[at] = row.ok ? null : (latency ?? 0);
      const score = anomalyScore(row);
      anomaly[at] = score !== null && score >= ANOMALY_THRESHOLD ? score : null;
    }
    columns.push(...stacks, total);
    if (!this.hidden.has("failed")) columns.push(failed);
    if (!this.hidden.has("anomaly")) columns.push(anomaly);
    return columns;
  }

  colours() {
    const style = getComputedStyle(this.container);
    const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    return {
      text: read("--muted", "#5b6270"),
      grid: read("--border", "#d5d9e0"),
      total: read("--accent", "#0e7490"),
      failed: read("--down", "#c81e1e"),
      anomaly: read("--degraded", "#b45309"),
      surface: read("--surface", "#ffffff"),
      phase: (name, index) =>
        read(`--chart-${name.replace(/_/g, "-")}`, read(`--chart-phase-${index % 4}`, "#94a3b8")),
    };
  }

  options(width, height) {
    const colour = this.colours();
    const phases = this.shownPhases();
    const axis = {
      stroke: colour.text,
      grid: { stroke: withAlpha(colour.grid, 0.7), width: 1 },
      ticks: { stroke: colour.grid, width: 1 },
    };
    const series = [{}];
    phases.forEach((name, index) => {
      const fill = colour.phase(name, this.phases.indexOf(name));
      series.push({
        label: PHASE_LABELS[name] || name,
        scale: "ms",
        stroke: withAlpha(fill, 0.9),
        width: 1,
        fill: withAlpha(fill, 0.45),
        points: { show: false },
      });
    });
    series.push({
      label: "Total",
      scale: "ms",
      stroke: colour.total,
      width: 2,
      points: { show: false },
    });
    if (!this.hidden.has("failed")) {
      series.push({
        label: "Failed",
        scale: "ms",
        stroke: colour.failed,
        fill: colour.failed,
        paths: () => null,
        points: { show: true, size: 8, width: 1, stroke: colour.surface, fill: colour.failed },
      });
    }
    const anomalies = !this.hidden.has("anomaly");
    if (anomalies) {
      series.push({
        label: "Anomaly score",
        scale: "score",
        stroke: colour.anomaly,
        paths: () => null,
        points: { show: true, size: 7, width: 1.5, stroke: colour.anomaly, fill: colour.surface },
      });
    }
    const bands = [];
    for (let index = 1; index < phases.length; index += 1) {
      bands.push({ series: [index + 1, index] });
    }
    const axes = [
      { ...axis },
      { ...axis, scale: "ms", size: 62, values: (u, splits) => axisMs(splits) },
    ];
    if (anomalies) {
      axes.push({
        ...axis,
        scale: "score",
        side: 1,
        size: 40,
        grid: { show: false },
        values: (u, splits) => splits.map((value) => value.toFixed(1)),
      });
    }
    return {
      width,
      height,
      legend: { show: false },
      series,
      bands,
      axes,
      scales: {
        x: { time: true, range: () => [this.min, this.max] },
        ms: { range: (u, low, high) => [0, high > 0 ? high * 1.1 : 10] },
        score: { range: [0, 1.05] },
      },
      cursor: {
        drag: { x: true, y: false, setScale: false },
        points: { size: 7 },
      },
      hooks: {
        setSelect: [(u) => this.selected(u)],
        setCursor: [(u) => this.hovered(u)],
      },
    };
  }

  size() {
    const width = Math.max(240, Math.floor(this.container.clientWidth));
    const height = width < 520 ? 220 : 300;
    return { width, height };
  }

  rebuild() {
    if (!this.container.isConnected && this.plot) return;
    this.plot?.destroy();
    const { width, height } = this.size();
    this.plot = new uPlot(this.options(width, height), this.data(), this.container);
  }

  fit() {
    if (!this.plot) return;
    const { width, height } = this.size();
    if (width !== this.plot.width || height !== this.plot.height) {
      this.plot.setSize({ width, height });
    }
  }

  selected(u) {
    const { left, width } = u.select;
    if (width < SELECT_MIN_PX) return;
    const since = u.posToVal(left, "x");
    const until = u.posToVal(left + width, "x");
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    this.onZoom(since, until);
  }

  hovered(u) {
    const index = u.cursor.idx;
    this.onPoint(index === null || index === undefined ? null : this.rows[index] || null);
  }

  /** A one-sentence description for people who cannot see the chart. */
  describe() {
    const latencies = this.rows
      .filter((row) => row.ok)
      .map((row) => row.latency_ms)
      .sort((a, b) => a - b);
    const failures = this.rows.filter((row) => !row.ok).length;
    if (!this.rows.length) return "Latency chart: no checks in this span.";
    const median = latencies.length ? latencies[Math.floor(latencies.length / 2)] : null;
    return (
      `Latency chart of ${this.rows.length} checks: median ${formatMs(median)}, ` +
      `${failures} failed.`
    );
  }

  destroy() {
    this.resizer.disconnect();
    this.themeWatch.disconnect();
    this.scheme.removeEventListener("change", this.onScheme);
    this.plot?.destroy();
    this.plot = null;
  }
}
