// The swipe demo's logic: draw the chosen layout, record a swipe with pointer events (mouse, pen or
// touch), POST it to /api/decode on lift, list the candidates, and colour the swipe's points by the
// attention the selected letter paid to them. No framework, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("keyboard");
const ctx = canvas.getContext("2d");
const state = { layout: null, layoutName: null, trace: null, result: null, word: 0, letter: null, busy: false };

async function api(path, options = {}) {
  const response = await fetch(path, { headers: { "Content-Type": "application/json" }, ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return body;
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

// ---- the keyboard: layout pixels scaled onto the canvas
function scale() { return canvas.width / state.layout.width; }

function toLayout(event) {  // a pointer event's position in layout pixels
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * state.layout.width / box.width,
          (event.clientY - box.top) * state.layout.height / box.height];
}

function drawKeyboard() {
  const s = scale();
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = `${Math.round(16 * Math.max(1, s / 2))}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (const key of state.layout.keys) {
    const b = key.hitbox;
    ctx.fillStyle = key.label ? "#ffffff" : "#e2e2e2";
    ctx.strokeStyle = "#c8c8c8";
    ctx.beginPath();
    ctx.roundRect(b.x * s + 2, b.y * s + 2, b.w * s - 4, b.h * s - 4, 5);
    ctx.fill();
    ctx.stroke();
    ctx.fillStyle = "#333";
    ctx.fillText(key.label || key.action || "", (b.x + b.w / 2) * s, (b.y + b.h / 2) * s);
  }
}

function drawTrace(points, weights) {  // points: [[x, y], …] in layout pixels; weights: per point, or none
  const s = scale();
  ctx.strokeStyle = weights ? "rgba(60, 60, 60, 0.35)" : "rgba(41, 98, 255, 0.8)";
  ctx.lineWidth = 3;
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x * s, y * s) : ctx.moveTo(x * s, y * s)));
  ctx.stroke();
  if (!weights) return;
  const top = Math.max(...weights) || 1;
  points.forEach(([x, y], i) => {
    const w = weights[i] / top;  // 0 … 1: white-yellow to deep red
    ctx.fillStyle = `rgba(${200 + Math.round(55 * w)}, ${Math.round(220 * (1 - w))}, ${Math.round(60 * (1 - w))}, ${0.25 + 0.75 * w})`;
    ctx.beginPath();
    ctx.arc(x * s, y * s, 3 + 7 * w, 0, 2 * Math.PI);
    ctx.fill();
  });
}

function redraw() {
  drawKeyboard();
  const r = state.result;
  if (state.trace) drawTrace(state.trace.x.map((x, i) => [x, state.trace.y[i]]));
  if (!r || !r.candidates.length || state.letter === null) return;
  const att = r.candidates[state.word].attention;
  if (!att) return;
  drawKeyboard();
  drawTrace(r.points.x.map((x, i) => [x, r.points.y[i]]), att[state.letter]);
}

// ---- results
function showResult(r) {
  state.result = r;
  state.word = 0;
  state.letter = r.candidates.length && r.candidates[0].attention ? 0 : null;
  const list = $("candidates");
  list.replaceChildren(...r.candidates.map((c, i) => {
    const li = document.createElement("li");
    li.dataset.word = c.word;
    li.className = (i === 0 ? "selected" : "") + (c.personal ? " personal" : "");
    li.innerHTML = `<span class="word"></span><small>${c.score.toFixed(2)}</small>`;
    li.querySelector(".word").textContent = c.word;
    li.onclick = () => { state.word = i; state.letter = 0; showLetters(); redraw(); };
    return li;
  }));
  showLetters();
  redraw();
  status(r.candidates.length
    ? `${r.decoder} on ${r.model}: ${r.candidates.length} words in ${r.ms} ms (server)`
    : "no word found for this swipe");
}

function showLetters() {
  const r = state.result;
  document.querySelectorAll("#candidates li").forEach((li, i) => li.classList.toggle("selected", i === state.word));
  const c = r && r.candidates[state.word];
  $("letters").replaceChildren(...(c ? [...c.word] : []).map((ch, i) => {
    const b = document.createElement("button");
    b.textContent = ch;
    b.className = i === state.letter ? "selected" : "";
    b.onclick = () => { state.letter = i; showLetters(); redraw(); };
    return b;
  }));
}

// ---- the swipe
canvas.addEventListener("pointerdown", (e) => {
  if (!state.layout) return;
  canvas.setPointerCapture(e.pointerId);
  const [x, y] = toLayout(e);
  state.trace = { x: [x], y: [y], t: [0], t0: e.timeStamp };
  state.result = null;
  redraw();
});

// Pointer events come at 60 to 1000 Hz (coalesced events included); a model reads swipes as its
// input spec says, and one that picks its points by index was trained on ~60 Hz swipes. So the
// trace keeps a point at most every 1000 / sample_hz ms (the model's, from /api/options), and
// always the last one, whatever the device's rate.
function minStepMs() {
  const m = state.options && state.options.models.find((o) => o.name === $("model").value);
  return 1000 / ((m && m.sample_hz) || 60);
}

canvas.addEventListener("pointermove", (e) => {
  if (!state.trace) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const ev of events.length ? events : [e]) {
    const [x, y] = toLayout(ev);
    const t = Math.max(ev.timeStamp - state.trace.t0, state.trace.t[state.trace.t.length - 1]);
    state.trace.pending = { x, y, t };  // the latest point, kept for the lift even if skipped now
    if (t - state.trace.t[state.trace.t.length - 1] < minStepMs()) continue;
    state.trace.x.push(x);
    state.trace.y.push(y);
    state.trace.t.push(t);
    state.trace.pending = null;
  }
  redraw();
});

async function lift(e) {
  if (!state.trace) return;
  const trace = state.trace;
  state.trace = null;
  if (trace.pending && trace.pending.t > trace.t[trace.t.length - 1]) {  // the finger's last position
    trace.x.push(trace.pending.x); trace.y.push(trace.pending.y); trace.t.push(trace.pending.t);
  }
  if (trace.x.length < 2) { redraw(); return; }
  state.trace = trace;  // keep it drawn while decoding
  status("decoding…");
  try {
    const r = await api("api/decode", { method: "POST", body: JSON.stringify({
      x: trace.x, y: trace.y, t: trace.t, layout: state.layoutName, model: $("model").value,
      decoder: $("decoder").value, beam_size: Number($("beam").value), user: $("user").value || null }) });
    state.trace = null;
    showResult(r);
  } catch (err) {
    state.trace = null;
    redraw();
    status(err.message, true);
  }
}
canvas.addEventListener("pointerup", lift);
canvas.addEventListener("pointercancel", lift);

// ---- choices
async function loadLayout(name) {
  state.layout = await api(`api/layouts/${encodeURIComponent(name)}`);
  state.layoutName = name;
  canvas.height = Math.round(canvas.width * state.layout.height / state.layout.width);
  state.result = null;
  $("candidates").replaceChildren();
  $("letters").replaceChildren();
  redraw();
}

async function showMyWords() {
  const user = $("user").value;
  if (!user) { $("my-words").textContent = ""; return; }
  try {
    const r = await api(`api/users/${encodeURIComponent(user)}/words`);
    $("my-words").textContent = r.words.length ? `my words: ${r.words.join(", ")}` : "";
  } catch (err) { $("my-words").textContent = err.message; }
}

$("add-word").onclick = async () => {
  const word = $("new-word").value.trim();
  if (!word) return;
  try {
    const r = await api(`api/users/${encodeURIComponent($("user").value)}/words`,
                        { method: "POST", body: JSON.stringify({ words: [word] }) });
    status(`added ${r.added.join(", ") || "nothing new"}: ${r.words} words of your own; swipe it`);
    $("new-word").value = "";
    showMyWords();
  } catch (err) { status(err.message, true); }
};
$("user").onchange = showMyWords;
$("layout").onchange = () => loadLayout($("layout").value).catch((err) => status(err.message, true));

function fill(select, values, chosen) {
  select.replaceChildren(...values.map((v) => new Option(v, v, false, v === chosen)));
}

// keyCentre: where a letter's key is on the page (tests and people who script the page)
window.swipeDemo = {
  keyCentre(letter) {
    const key = state.layout.keys.find((k) => k.label === letter);
    const box = canvas.getBoundingClientRect();
    const f = box.width / state.layout.width;
    return key && { x: (key.hitbox.x + key.hitbox.w / 2) * f, y: (key.hitbox.y + key.hitbox.h / 2) * f,
                    width: box.width, height: box.height };
  },
  state,
};

// each browser its own user (kept in localStorage): a shared default let one visitor's words reach the next
function browserUser() {
  let id = localStorage.getItem("swipe-user");
  if (!id) {
    id = "b-" + Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem("swipe-user", id);
  }
  return id;
}

(async function start() {
  try {
    if (!$("user").value) $("user").value = browserUser();
    const o = await api("api/options");
    state.options = o;
    fill($("model"), o.models.map((m) => m.name), o.default_model);
    fill($("decoder"), o.decoders, o.default_decoder);
    fill($("layout"), o.layouts, o.default_layout);
    $("beam").value = o.beam_size;
    $("beam").max = o.limits.max_beam;
    await loadLayout(o.default_layout);
    showMyWords();
    status(`ready: ${o.lexicon_words.toLocaleString("en")} words; swipe over the keys`);
    document.body.dataset.ready = "true";
  } catch (err) { status(`cannot start: ${err.message}`, true); }
})();
