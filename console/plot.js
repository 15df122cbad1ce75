// @ts-check
/**
 * A time-series line plot drawn as SVG by hand: one polyline per series over
 * a fixed time span ending now, the y axis from 0 to the largest value seen,
 * a label with the latest value of each series. No library.
 */

const NS = "http://www.w3.org/2000/svg";
const W = 320;
const H = 120;
const PAD = { left: 36, right: 6, top: 8, bottom: 18 };

/**
 * @typedef {{ label: string, points: Array<[number, number | null]> }} Series
 */

/**
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 */
function svg(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** @param {number} v */
function short(v) {
  if (v === 0) return "0";
  if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(1)}k`;
  if (Math.abs(v) >= 10) return String(Math.round(v));
  return v.toFixed(v >= 1 ? 1 : 2);
}

export class TimePlot {
  /**
   * @param {string} id
   * @param {string} title
   * @param {string} unit
   * @param {number} [ceiling] the top of the y axis when values never pass it (100 for percentages)
   */
  constructor(id, title, unit, ceiling) {
    this.unit = unit;
    this.ceiling = ceiling;
    this.figure = document.createElement("figure");
    this.figure.className = "plot";
    this.figure.id = `plot-${id}`;
    const caption = document.createElement("figcaption");
    caption.id = `plot-${id}-title`;
    this.title = document.createElement("span");
    this.title.textContent = `${title} (${unit})`;
    this.latest = document.createElement("span");
    this.latest.className = "latest";
    caption.append(this.title, this.latest);
    this.svg = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": caption.id, preserveAspectRatio: "none" });
    this.figure.append(caption, this.svg);
  }

  /**
   * Draws `series` over [now - spanMs, now].
   * @param {Series[]} series
   * @param {number} now
   * @param {number} spanMs
   */
  draw(series, now, spanMs) {
    const values = series.flatMap((s) => s.points.filter((p) => p[0] >= now - spanMs).map((p) => p[1]).filter((v) => v !== null && Number.isFinite(v)));
    const max = Math.max(0, ...values.map(Number));
    const top = this.ceiling !== undefined && max <= this.ceiling ? this.ceiling : max > 0 ? max * 1.1 : 1;
    const x = (/** @type {number} */ t) => PAD.left + ((t - (now - spanMs)) / spanMs) * (W - PAD.left - PAD.right);
    const y = (/** @type {number} */ v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
    const children = [
      svg("line", { x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom, class: "axis" }),
      svg("line", { x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: H - PAD.bottom, class: "axis" }),
    ];
    const label = (/** @type {string} */ text, /** @type {number} */ lx, /** @type {number} */ ly, anchor = "end") => {
      const t = svg("text", { x: lx, y: ly, "text-anchor": anchor, class: "tick" });
      t.textContent = text;
      return t;
    };
    children.push(label(short(top), PAD.left - 3, PAD.top + 8), label("0", PAD.left - 3, H - PAD.bottom));
    children.push(label(`-${Math.round(spanMs / 60000)} min`, PAD.left, H - 4, "start"), label("now", W - PAD.right, H - 4));
    /** @type {string[]} */
    const latest = [];
    series.forEach((s, i) => {
      // A gap (null) breaks the line.
      /** @type {string[]} */
      let run = [];
      const flush = () => {
        if (run.length > 0) children.push(svg("polyline", { points: run.join(" "), class: `line line-${i % 4}`, "data-series": s.label }));
        run = [];
      };
      for (const [t, v] of s.points) {
        if (v === null || !Number.isFinite(v) || t < now - spanMs) flush();
        else run.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
      }
      flush();
      const last = [...s.points].reverse().find((p) => p[1] !== null);
      latest.push(`${s.label} ${last ? short(/** @type {number} */ (last[1])) : "–"}`);
    });
    this.svg.replaceChildren(...children);
    this.svg.dataset.max = values.length ? String(max) : "0";
    this.svg.dataset.points = String(values.length);
    this.latest.textContent = latest.join(" · ");
    this.figure.hidden = false;
  }
}
