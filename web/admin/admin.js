// c1m operator page: polls the admin listener's /stats and /connections
// every second and draws rolling line charts on canvases (no library).

const WINDOW = 180; // points kept per series (3 minutes at one a second)
const COLORS = ['#0969da', '#1a7f37', '#bf8700', '#cf222e', '#8250df', '#1b7c83', '#bc4c00', '#6e7781'];

class Chart {
  constructor(canvas, opts = {}) {
    this.canvas = canvas;
    this.series = new Map(); // name -> number[]
    this.bytes = !!opts.bytes;
    this.legend = opts.legend ? document.getElementById(opts.legend) : null;
  }
  push(name, v) {
    let s = this.series.get(name);
    if (!s) { s = []; this.series.set(name, s); }
    s.push(v);
    if (s.length > WINDOW) s.shift();
  }
  draw() {
    const c = this.canvas, g = c.getContext('2d');
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || c.width, h = c.clientHeight || c.height;
    if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    let max = 0;
    for (const s of this.series.values()) for (const v of s) max = Math.max(max, v);
    max = max > 0 ? max * 1.1 : 1;
    const left = 56, bottom = h - 14, top = 6;
    const style = getComputedStyle(document.body);
    g.strokeStyle = style.getPropertyValue('--line') || '#ccc';
    g.fillStyle = style.getPropertyValue('--muted') || '#888';
    g.font = '11px system-ui, sans-serif';
    g.lineWidth = 1;
    for (let i = 0; i <= 3; i++) {
      const y = bottom - (bottom - top) * i / 3;
      g.beginPath(); g.moveTo(left, y); g.lineTo(w, y); g.stroke();
      g.fillText(fmt(max * i / 3, this.bytes), 2, y + 4);
    }
    let k = 0;
    const items = [];
    // Until the window fills, the x axis spans at least a minute, so the
    // first points already draw a line.
    let span = 60;
    for (const s of this.series.values()) span = Math.max(span, s.length);
    for (const [name, s] of this.series) {
      const color = COLORS[k++ % COLORS.length];
      items.push(`<span><i style="background:${color}"></i>${escapeHTML(name)}</span>`);
      g.strokeStyle = color; g.lineWidth = 1.5; g.beginPath();
      s.forEach((v, i) => {
        const x = left + (w - left) * (i + span - s.length) / (span - 1);
        const y = bottom - (bottom - top) * v / max;
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
    }
    if (this.legend) this.legend.innerHTML = items.join('');
  }
  points() { let n = 0; for (const s of this.series.values()) n += s.length; return n; }
}

// count formats a whole number.
function count(v) { return v >= 1e4 ? fmt(v) : String(Math.round(v)); }

function fmt(v, bytes) {
  if (bytes) {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + u[i];
  }
  if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (v >= 1e4) return (v / 1e3).toFixed(0) + 'k';
  if (v >= 1e3) return (v / 1e3).toFixed(1) + 'k';
  return v >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1);
}

function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

const charts = {
  conns: new Chart(document.getElementById('c-conns')),
  dps: new Chart(document.getElementById('c-dps')),
  queued: new Chart(document.getElementById('c-queued'), { bytes: true }),
  closes: new Chart(document.getElementById('c-closes'), { legend: 'l-closes' }),
  mem: new Chart(document.getElementById('c-mem'), { bytes: true, legend: 'l-mem' }),
};
window.c1mCharts = charts; // for tests and the curious

let prev = null; // previous /stats and when it was read

function setText(id, v) { document.getElementById(id).textContent = v; }

function table(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.innerHTML = rows.length
    ? rows.map(([k, v]) => `<tr><td>${escapeHTML(k)}</td><td>${v}</td></tr>`).join('')
    : '<tr><td colspan="2">–</td></tr>';
}

async function tick() {
  const status = document.getElementById('status');
  try {
    const [st, cl] = await Promise.all([
      fetch('/stats', { cache: 'no-store' }).then((r) => r.json()),
      fetch('/connections?top=20', { cache: 'no-store' }).then((r) => r.json()),
    ]);
    const now = performance.now();
    const p = st.poller || {};
    const conns = (p.conns || 0) + (p.streams || 0);
    charts.conns.push('connections', conns);
    charts.queued.push('queued', p.queued_bytes || 0);
    charts.mem.push('heap in use', st.heap_inuse || 0);
    charts.mem.push('RSS', st.rss || 0);
    let dps = 0;
    if (prev) {
      const dt = (now - prev.at) / 1000;
      dps = Math.max(0, ((st.hub?.deliveries || 0) - (prev.st.hub?.deliveries || 0)) / dt);
      const closes = p.closes || {}, before = prev.st.poller?.closes || {};
      for (const reason of Object.keys(closes)) {
        if (!closes[reason] && !charts.closes.series.has(reason)) continue; // a reason never seen
        charts.closes.push(reason, Math.max(0, (closes[reason] - (before[reason] || 0)) / dt));
      }
      charts.dps.push('deliveries/s', dps);
    }
    prev = { st, at: now };
    setText('v-conns', count(conns));
    setText('v-dps', fmt(dps));
    setText('v-queued', fmt(p.queued_bytes || 0, true));
    setText('v-heap', fmt(st.heap_inuse || 0, true));
    setText('v-rss', fmt(st.rss || 0, true));
    setText('v-gor', count(st.goroutines || 0));
    const node = document.getElementById('node');
    node.textContent = st.node || '–';
    if (st.nats) node.textContent += st.nats.connected ? ' · cluster connected' : ' · NATS down';
    status.textContent = 'live';
    status.className = 'chip ok';
    table('t-ip', (cl.by_ip || []).map((e) => [e.ip, e.conns]));
    setText('ips', cl.ips ? `(${cl.ips} addresses, top ${(cl.by_ip || []).length})` : '');
    table('t-path', Object.entries(cl.by_path || {}).sort((a, b) => b[1] - a[1]));
    table('t-user', (cl.by_user || []).map((e) => [e.user, e.conns]));
    for (const c of Object.values(charts)) c.draw();
  } catch (e) {
    status.textContent = 'no answer: ' + e.message;
    status.className = 'chip bad';
  }
}

tick();
setInterval(tick, 1000);
