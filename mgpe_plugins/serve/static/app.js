// mgpe serve: the mask editor page. Plain modern JavaScript, no build step, nothing fetched
// from the network but this server's own /api (the page works offline).
//
// The mask is edited as a map of label ids at the model's resolution (one byte per pixel),
// shown scaled up with nearest-neighbour rendering. After each stroke the id map is encoded
// here as an 8-bit grayscale PNG (pixel value = class id, with the mgpe-schema / mgpe-classes
// text chunks that mgpe's own id PNGs carry) and sent to /render.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null) node.append(c);
  return node;
}

// -- state ----------------------------------------------------------------------------------

const state = {
  info: null,
  R: 128,              // model resolution
  W: 128, H: 128,      // the current photo's mask_size: the id map is W x H
  classes: [],         // [{id, name, color}]
  colorOf: [],         // id -> [r, g, b]
  session: null,
  photos: [],          // {pid, name, W, H, faces, face, framed, shown, ids, original, undo, redo}
  current: null,       // the photo being edited
  tool: "brush",
  cls: 1,
  size: 6,
  overlay: 0.45,
  overlayOn: true,
  view: "face",
  styles: {},          // component -> "" (own) | pid | "sample:N"
  result: null,        // {rid, imageUrl, faceUrl, maskUrl, jsonUrl, blobUrl, kind: "render"|"edit"}
  results: [],         // results of the last operation
  flipped: false,
  rendering: false,
  renderAgain: false,
};

const UNDO_LIMIT = 100;

// -- messages -------------------------------------------------------------------------------

function toast(message, kind = "info", ms = 4000) {
  const box = $("#toasts");
  const close = el("button", { type: "button", "aria-label": "Dismiss", text: "×" });
  const t = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : null },
    el("span", { class: "msg", text: message }), close);
  close.addEventListener("click", () => t.remove());
  box.append(t);
  while (box.children.length > 4) box.firstChild.remove();
  if (kind !== "error" || ms > 0) setTimeout(() => t.remove(), kind === "error" ? 10000 : ms);
  return t;
}
const showError = (msg) => toast(String(msg), "error");

window.addEventListener("error", (e) => showError(`page error: ${e.message}`));
window.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  showError(e.reason && e.reason.message ? e.reason.message : String(e.reason));
});

// -- HTTP -----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, { method = "GET", json, form, as = "json", headers = {} } = {}) {
  const opts = { method, headers: { ...headers } };
  if (json !== undefined) {
    opts.body = JSON.stringify(json);
    opts.headers["Content-Type"] = "application/json";
  } else if (form) opts.body = form;
  let resp;
  try {
    resp = await fetch(path, opts);
  } catch (e) {
    throw new ApiError(0, `cannot reach the mgpe server (${e.message}); is \`mgpe serve\` still running?`);
  }
  if (!resp.ok) {
    let msg = `${resp.status} ${resp.statusText}`;
    try {
      const body = await resp.json();
      if (body && body.error) msg = body.error;
    } catch { /* not JSON */ }
    throw new ApiError(resp.status, msg);
  }
  if (as === "json") return resp.json();
  if (as === "response") return resp;
  return resp.blob();
}

const sessionUrl = (p = "") => `/api/sessions/${state.session}${p}`;
const photoUrl = (pid, file) => sessionUrl(`/photos/${pid}/${file}`);
const resultUrl = (rid, file) => sessionUrl(`/results/${rid}/${file}`);

async function ensureSession() {
  if (!state.session) state.session = (await api("/api/sessions", { method: "POST" })).session;
  return state.session;
}

// -- PNG encoding / decoding of id maps ------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(parts) {
  let c = 0xffffffff;
  for (const bytes of parts) for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  const typeBytes = new TextEncoder().encode(type);
  dv.setUint32(0, data.length);
  out.set(typeBytes, 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32([typeBytes, data]));
  return out;
}

function adler32(bytes) {
  let a = 1, b = 0;
  for (let i = 0; i < bytes.length; i++) { a = (a + bytes[i]) % 65521; b = (b + a) % 65521; }
  return ((b << 16) | a) >>> 0;
}

async function zlibDeflate(raw) {
  if (typeof CompressionStream === "function") {
    const stream = new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  // Fallback: zlib with stored (uncompressed) deflate blocks.
  const blocks = Math.max(1, Math.ceil(raw.length / 65535));
  const out = new Uint8Array(2 + raw.length + 5 * blocks + 4);
  out[0] = 0x78; out[1] = 0x01;
  let o = 2;
  for (let i = 0; i < blocks; i++) {
    const part = raw.subarray(i * 65535, Math.min(raw.length, (i + 1) * 65535));
    out[o++] = i === blocks - 1 ? 1 : 0;
    out[o++] = part.length & 0xff; out[o++] = part.length >> 8;
    out[o++] = ~part.length & 0xff; out[o++] = (~part.length >> 8) & 0xff;
    out.set(part, o); o += part.length;
  }
  new DataView(out.buffer).setUint32(o, adler32(raw));
  return out;
}

/** An 8-bit grayscale PNG whose pixel values are the ids, naming its schema like mgpe's. */
async function encodeIdPng(ids, w, h, texts = {}) {
  const raw = new Uint8Array(h * (w + 1));
  for (let y = 0; y < h; y++) raw.set(ids.subarray(y * w, (y + 1) * w), y * (w + 1) + 1);
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w); dv.setUint32(4, h);
  ihdr[8] = 8; ihdr[9] = 0; // bit depth 8, grayscale
  const enc = new TextEncoder();
  const chunks = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), pngChunk("IHDR", ihdr)];
  for (const [k, v] of Object.entries(texts)) {
    const kb = enc.encode(k), vb = enc.encode(v);
    const data = new Uint8Array(kb.length + 1 + vb.length);
    data.set(kb); data.set(vb, kb.length + 1);
    chunks.push(pngChunk("tEXt", data));
  }
  chunks.push(pngChunk("IDAT", await zlibDeflate(raw)), pngChunk("IEND", new Uint8Array(0)));
  return new Blob(chunks, { type: "image/png" });
}

async function blobToBase64(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function schemaTexts() {
  const schema = state.info.schema;
  return { "mgpe-schema": schema.name, "mgpe-classes": JSON.stringify(state.classes.map((c) => c.name)) };
}

const currentMaskPng = () => encodeIdPng(state.current.ids, state.current.W, state.current.H, schemaTexts());

/** The ids of an id PNG (value = id in the red channel), nearest-resized to W x H. */
async function fetchIds(url, W, H) {
  const blob = await api(url, { as: "blob" });
  const bmp = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const c = document.createElement("canvas");
  c.width = W; c.height = H;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(bmp, 0, 0, W, H);
  const data = ctx.getImageData(0, 0, W, H).data;
  const ids = new Uint8Array(W * H);
  const n = state.classes.length;
  for (let i = 0; i < ids.length; i++) ids[i] = data[4 * i] < n ? data[4 * i] : 0;
  return ids;
}

// -- the mask canvases ----------------------------------------------------------------------

let maskCtx, overlayCtx, maskImage, overlayImage;

function setupCanvases(W, H) {
  state.W = W; state.H = H;
  for (const id of ["mask-canvas", "overlay-canvas"]) {
    const c = $("#" + id);
    c.width = W; c.height = H;
  }
  for (const s of $$(".stage")) s.style.aspectRatio = `${W} / ${H}`;
  maskCtx = $("#mask-canvas").getContext("2d");
  overlayCtx = $("#overlay-canvas").getContext("2d");
  maskImage = maskCtx.createImageData(W, H);
  overlayImage = overlayCtx.createImageData(W, H);
}

/** The brush diameter in mask pixels: the slider counts pixels at the model's resolution. */
const brushPixels = () => state.size * state.W / state.R;

function setPixelColor(i, id) {
  const [r, g, b] = state.colorOf[id] || [0, 0, 0];
  const m = maskImage.data, o = overlayImage.data, k = 4 * i;
  m[k] = r; m[k + 1] = g; m[k + 2] = b; m[k + 3] = 255;
  o[k] = r; o[k + 1] = g; o[k + 2] = b; o[k + 3] = id === 0 ? 0 : 255;
}

function redrawAll() {
  const ids = state.current.ids;
  for (let i = 0; i < ids.length; i++) setPixelColor(i, ids[i]);
  flushCanvases();
}

function flushCanvases() {
  maskCtx.putImageData(maskImage, 0, 0);
  overlayCtx.putImageData(overlayImage, 0, 0);
}

function applyOverlayOpacity() {
  $("#overlay-canvas").style.opacity = state.overlayOn ? state.overlay : 0;
  $("#opacity-out").textContent = Math.round(state.overlay * 100);
}

// -- painting -------------------------------------------------------------------------------

/** Paint a disc of the brush's diameter centred at (cx, cy). Returns whether it changed. */
function paintDisc(cx, cy) {
  const p = state.current, W = state.W, H = state.H, d = brushPixels(), r = d / 2, r2 = r * r;
  const erase = state.tool === "erase";
  let changed = false;
  const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(W - 1, Math.ceil(cx + r));
  const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(H - 1, Math.ceil(cy + r));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      if (dx * dx + dy * dy > r2 && !(d <= 1 && x === Math.floor(cx) && y === Math.floor(cy))) continue;
      const i = y * W + x;
      const id = erase ? p.original[i] : state.cls;
      if (p.ids[i] !== id) { p.ids[i] = id; setPixelColor(i, id); changed = true; }
    }
  }
  return changed;
}

function paintLine(a, b) {
  const dist = Math.hypot(b.x - a.x, b.y - a.y);
  const step = Math.max(0.5, brushPixels() / 4);
  const n = Math.max(1, Math.ceil(dist / step));
  let changed = false;
  for (let k = 1; k <= n; k++) changed = paintDisc(a.x + (b.x - a.x) * k / n, a.y + (b.y - a.y) * k / n) || changed;
  return changed;
}

/** 4-connected flood fill of the region under (x, y) with the selected class. */
function floodFill(x, y) {
  const p = state.current, W = state.W, H = state.H, ids = p.ids;
  const start = y * W + x, from = ids[start], to = state.cls;
  if (from === to) return false;
  const stack = new Int32Array(W * H);
  let top = 0;
  stack[top++] = start;
  ids[start] = to;
  while (top > 0) {
    const i = stack[--top];
    setPixelColor(i, to);
    const px = i % W, py = (i - px) / W;
    if (px > 0 && ids[i - 1] === from) { ids[i - 1] = to; stack[top++] = i - 1; }
    if (px < W - 1 && ids[i + 1] === from) { ids[i + 1] = to; stack[top++] = i + 1; }
    if (py > 0 && ids[i - W] === from) { ids[i - W] = to; stack[top++] = i - W; }
    if (py < H - 1 && ids[i + W] === from) { ids[i + W] = to; stack[top++] = i + W; }
  }
  return true;
}

function pushUndo() {
  const p = state.current;
  p.undo.push(p.ids.slice());
  if (p.undo.length > UNDO_LIMIT) p.undo.shift();
  p.redo = [];
}

function undo() {
  const p = state.current;
  if (!p || !p.undo.length) return;
  p.redo.push(p.ids);
  p.ids = p.undo.pop();
  afterMaskChange();
}

function redo() {
  const p = state.current;
  if (!p || !p.redo.length) return;
  p.undo.push(p.ids);
  p.ids = p.redo.pop();
  afterMaskChange();
}

function resetMask() {
  const p = state.current;
  if (!p) return;
  let same = true;
  for (let i = 0; i < p.ids.length && same; i++) same = p.ids[i] === p.original[i];
  if (same) return;
  pushUndo();
  p.ids = p.original.slice();
  afterMaskChange();
}

function afterMaskChange() {
  redrawAll();
  updateUndoButtons();
  requestRender();
}

function updateUndoButtons() {
  const p = state.current;
  $("#undo-btn").disabled = !p || !p.undo.length;
  $("#redo-btn").disabled = !p || !p.redo.length;
  $("#reset-btn").disabled = !p;
}

function pointerToModel(ev, surface) {
  const rect = surface.getBoundingClientRect();
  return {
    x: (ev.clientX - rect.left) / rect.width * state.W,
    y: (ev.clientY - rect.top) / rect.height * state.H,
  };
}

function updateCursor(ev, surface) {
  const cursor = $(".brush-cursor", surface);
  const rect = surface.getBoundingClientRect();
  const d = brushPixels() * rect.width / state.W;
  cursor.style.width = cursor.style.height = `${Math.max(4, d)}px`;
  cursor.style.left = `${ev.clientX - rect.left}px`;
  cursor.style.top = `${ev.clientY - rect.top}px`;
}

function setupPainting(surface) {
  let stroke = null; // {last, changed, lastRender}
  surface.addEventListener("pointerdown", (ev) => {
    if (!state.current || ev.button !== 0) return;
    ev.preventDefault();
    const pt = pointerToModel(ev, surface);
    const x = Math.floor(pt.x), y = Math.floor(pt.y);
    if (x < 0 || y < 0 || x >= state.W || y >= state.H) return;
    if (ev.altKey) { selectClass(state.current.ids[y * state.W + x]); return; }
    pushUndo();
    if (state.tool === "fill") {
      if (floodFill(x, y)) { flushCanvases(); updateUndoButtons(); requestRender(); } else state.current.undo.pop();
      return;
    }
    surface.setPointerCapture(ev.pointerId);
    stroke = { last: pt, changed: paintDisc(pt.x, pt.y), lastRender: performance.now() };
    flushCanvases();
  });
  surface.addEventListener("pointermove", (ev) => {
    updateCursor(ev, surface);
    if (!stroke) return;
    const pts = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
    for (const e of pts.length ? pts : [ev]) {
      const pt = pointerToModel(e, surface);
      stroke.changed = paintLine(stroke.last, pt) || stroke.changed;
      stroke.last = pt;
    }
    flushCanvases();
    // A live preview while the stroke goes on, at most a few times a second.
    const now = performance.now();
    if (stroke.changed && now - stroke.lastRender > 300 && !state.rendering) {
      stroke.lastRender = now;
      requestRender();
    }
  });
  const end = () => {
    if (!stroke) return;
    const changed = stroke.changed;
    stroke = null;
    if (!changed) state.current.undo.pop();
    updateUndoButtons();
    if (changed) requestRender();
  };
  surface.addEventListener("pointerup", end);
  surface.addEventListener("pointercancel", end);
  surface.addEventListener("lostpointercapture", end);
}

// -- palette and tools ----------------------------------------------------------------------

function buildPalette() {
  const box = $("#palette");
  box.replaceChildren();
  for (const c of state.classes) {
    const key = c.id < 10 ? String(c.id) : c.id < 20 ? `⇧${c.id - 10}` : "";
    box.append(el("button", {
      type: "button", class: "swatch", role: "radio", "aria-checked": "false",
      dataset: { id: c.id }, title: `${c.name}${key ? ` (${key})` : ""}`,
      onclick: () => selectClass(c.id),
    },
    el("span", { class: "chip", style: `background: rgb(${c.color.join(",")})` }),
    el("span", { class: "name", text: c.name.replace(/_/g, " ") }),
    el("span", { class: "key", text: key })));
  }
}

function selectClass(id) {
  if (!state.classes.some((c) => c.id === id)) return;
  state.cls = id;
  for (const b of $$(".swatch")) b.setAttribute("aria-checked", String(Number(b.dataset.id) === id));
  if (state.tool === "erase") selectTool("brush");
}

function selectTool(tool) {
  state.tool = tool;
  for (const b of $$(".tool")) b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
  for (const s of $$(".paint-surface")) s.classList.toggle("fill-tool", tool === "fill");
}

function setBrushSize(size) {
  state.size = Math.max(1, Math.min(48, Math.round(size)));
  $("#brush-size").value = state.size;
  $("#brush-size-out").textContent = state.size;
}

// -- photos ---------------------------------------------------------------------------------

function photoLabel(p) { return p.name; }

async function openUpload(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    showError(`${file.name}: not an image (${file.type})`);
    return;
  }
  await ensureSession();
  const form = new FormData();
  form.append("file", file, file.name);
  setBusy(true);
  try {
    const r = await api(sessionUrl("/photos"), { method: "POST", form });
    await addPhoto(r, file.name, true);
  } catch (e) {
    showError(`could not open ${file.name}: ${e.message}`);
  } finally {
    setBusy(false);
  }
}

async function openSample(n) {
  $("#samples-dialog").close();
  await ensureSession();
  setBusy(true);
  try {
    const r = await api(sessionUrl("/photos"), { method: "POST", json: { sample: n } });
    await addPhoto(r, `sample:${n}`, true);
  } catch (e) {
    showError(`could not open sample ${n}: ${e.message}`);
  } finally {
    setBusy(false);
  }
}

async function addPhoto(r, name, select) {
  let p = state.photos.find((q) => q.pid === r.photo);
  if (!p) {
    const [W, H] = r.mask_size || [r.size || state.R, r.size || state.R];
    p = { pid: r.photo, name, W, H, faces: r.faces || [], face: r.face ?? 0, framed: !!r.framed,
      shown: false, ids: null, original: null, undo: [], redo: [] };
    state.photos.push(p);
  }
  if (select) {
    p.shown = true;
    await selectPhoto(p);
  }
  return p;
}

async function loadPhotoMask(p) {
  if (!p.ids) {
    p.ids = await fetchIds(photoUrl(p.pid, "mask.png"), p.W, p.H);
    p.original = p.ids.slice();
  }
}

async function selectPhoto(p) {
  await loadPhotoMask(p);
  state.current = p;
  setupCanvases(p.W, p.H);
  $("#empty").hidden = true;
  $("#editor").hidden = false;
  $("#photo-img").src = photoUrl(p.pid, "face.png");
  $("#photo-img").alt = `Face of ${photoLabel(p)}`;
  const multi = p.faces.length > 1;
  const hasPhotoView = p.framed;
  $("#view-select").hidden = !hasPhotoView;
  if (!hasPhotoView) { state.view = "face"; $("#view-select").value = "face"; }
  if (multi) toast(`${photoLabel(p)}: ${p.faces.length} faces found; editing face ${p.face + 1} (the largest)`);
  state.results = [];
  renderResultsRow();
  setResult(null);
  redrawAll();
  updateUndoButtons();
  renderPhotosRow();
  refreshPhotoPickers();
  requestRender();
}

function renderPhotosRow() {
  const row = $("#photos-row");
  row.replaceChildren();
  for (const p of state.photos.filter((q) => q.shown)) {
    row.append(el("button", {
      type: "button", class: "thumb", "aria-current": String(p === state.current),
      title: `Edit ${photoLabel(p)}`, onclick: () => selectPhoto(p).catch((e) => showError(e.message)),
    }, el("img", { src: photoUrl(p.pid, "face.png"), alt: "" }), el("span", { text: photoLabel(p) })));
  }
}

/** Choices for photo pickers: the session's opened photos, then the samples. */
function photoChoices() {
  const list = state.photos.filter((p) => p.shown).map((p) => ({
    value: p.pid, label: photoLabel(p), thumb: photoUrl(p.pid, "face.png"),
  }));
  const seen = new Set(state.photos.filter((p) => p.shown).map((p) => p.name));
  for (const s of state.info.samples || []) {
    if (!seen.has(s.spec)) list.push({ value: s.spec, label: s.spec, thumb: s.url });
  }
  return list;
}

// -- rendering ------------------------------------------------------------------------------

function setBusy(on) { $("#busy").hidden = !on; }

function requestRender() {
  if (!state.current) return;
  if (state.rendering) { state.renderAgain = true; return; }
  doRender();
}

/** Per-component style sources: photo ids of the session or "sample:N", as the API takes them. */
function stylesForRender() {
  const out = {};
  for (const [comp, value] of Object.entries(state.styles)) if (value) out[comp] = value;
  return out;
}

async function doRender() {
  const p = state.current;
  state.rendering = true;
  state.renderAgain = false;
  setBusy(true);
  try {
    const mask = await blobToBase64(await currentMaskPng());
    const body = { photo: p.pid, mask, view: state.view };
    const styles = stylesForRender();
    if (Object.keys(styles).length) body.styles = styles;
    const resp = await api(sessionUrl("/render"), { method: "POST", json: body, as: "response" });
    const blob = await resp.blob();
    if (p !== state.current) return;
    const rid = resp.headers.get("X-Mgpe-Result");
    state.results = [];
    renderResultsRow();
    setResult({ kind: "render", rid, blob, view: body.view });
  } catch (e) {
    if (!(e.status === 409 && /superseded/.test(e.message))) showError(`render failed: ${e.message}`);
  } finally {
    state.rendering = false;
    setBusy(false);
    if (state.renderAgain) requestRender();
  }
}

function setResult(res) {
  if (state.result && state.result.blobUrl) URL.revokeObjectURL(state.result.blobUrl);
  state.result = res;
  const img = $("#result-img");
  if (!res) {
    img.removeAttribute("src");
    img.dataset.result = "";
  } else {
    if (res.blob) res.blobUrl = URL.createObjectURL(res.blob);
    img.src = res.blobUrl || (state.view === "photo" ? res.imageUrl : res.faceUrl);
    img.dataset.result = res.rid || "";
  }
  const rid = res && res.rid;
  const dl = $("#dl-result"), js = $("#dl-json");
  dl.href = rid ? resultUrl(rid, "image.png") : "#";
  dl.setAttribute("aria-disabled", String(!rid));
  const jsonUrl = res && (res.jsonUrl || (rid ? resultUrl(rid, "edit.json") : null));
  js.href = jsonUrl || "#";
  js.setAttribute("aria-disabled", String(!jsonUrl));
  const zip = $("#dl-zip");
  zip.href = rid ? resultUrl(rid, "replay.zip") : "#";
  zip.setAttribute("aria-disabled", String(!rid));
  if (rid) {
    dl.download = `mgpe-${rid}.png`;
    js.download = `mgpe-${rid}.edit.json`;
    zip.download = `mgpe-${rid}.zip`;
  }
  $("#use-mask-btn").hidden = !(res && res.kind === "edit");
  $("#result-caption").textContent = res && res.caption ? res.caption : "Result";
  updateBefore();
}

function updateBefore() {
  const p = state.current;
  const before = $("#before-img");
  if (p) {
    const want = photoUrl(p.pid, state.view === "photo" ? "photo.png" : "face.png");
    if (before.getAttribute("src") !== want) before.src = want;
  }
  before.hidden = !state.flipped;
  $("#result-img").hidden = state.flipped;
  $("#result-label").hidden = !state.flipped;
  $("#flip-btn").setAttribute("aria-pressed", String(state.flipped));
}

function flip() {
  if (!state.current) return;
  state.flipped = !state.flipped;
  updateBefore();
}

// -- results of operations ------------------------------------------------------------------

function editResult(r, caption) {
  return { kind: "edit", rid: r.result, imageUrl: r.image, faceUrl: r.face || r.image,
    maskUrl: r.mask, jsonUrl: r.json || null, caption };
}

function renderResultsRow() {
  const section = $("#results-section"), row = $("#results-row");
  row.replaceChildren();
  section.hidden = state.results.length < 2;
  state.results.forEach((r, k) => {
    row.append(el("button", {
      type: "button", class: "thumb", "aria-pressed": String(state.result && state.result.rid === r.rid),
      title: `Show result ${k + 1}`, onclick: () => { setResult(r); renderResultsRow(); },
    }, el("img", { src: r.faceUrl, alt: `Result ${k + 1}` }), el("span", { text: r.label || `#${k + 1}` })));
  });
}

async function useResultMask() {
  const res = state.result, p = state.current;
  if (!res || !p || res.kind !== "edit") return;
  try {
    await api(photoUrl(p.pid, "mask"), { method: "POST", json: { result: res.rid } });
    const ids = await fetchIds(res.maskUrl || resultUrl(res.rid, "mask.png"), p.W, p.H);
    pushUndo();
    p.ids = ids;
    redrawAll();
    updateUndoButtons();
    toast("Painting now continues from the result's mask");
  } catch (e) {
    showError(`could not use the result's mask: ${e.message}`);
  }
}

// -- operations panel -----------------------------------------------------------------------

/** A declared default, or null when there is none (the server sends null then). */
function optDefault(opt) {
  return opt.default ?? null;
}

function optionControl(op, opt, idBase) {
  const id = `${idBase}-${opt.name}`;
  const label = opt.flag || `--${opt.name}`;
  const wrap = el("div", { class: "op-field" });
  const help = opt.help ? el("div", { class: "help", text: opt.help + (opt.required ? " (required)" : "") })
    : opt.required ? el("div", { class: "help", text: "required" }) : null;
  let get;
  const kind = opt.kind;
  opt = { ...opt, default: optDefault(opt) };
  if (kind === "flag") {
    const box = el("input", { type: "checkbox", id, checked: !!opt.default });
    wrap.append(el("label", { class: "check", for: id }, box, label));
    get = () => box.checked;
  } else if (kind === "choice") {
    const sel = el("select", { id, multiple: !!opt.multiple, size: opt.multiple ? Math.min(5, opt.choices.length) : null });
    if (!opt.required && !opt.multiple) sel.append(el("option", { value: "", text: "(default)" }));
    for (const c of opt.choices || []) {
      const o = el("option", { value: c, text: c });
      const d = opt.default;
      if (d === c || (Array.isArray(d) && d.includes(c))) o.selected = true;
      sel.append(o);
    }
    wrap.append(el("label", { for: id, text: label }), sel);
    get = () => opt.multiple ? Array.from(sel.selectedOptions).map((o) => o.value) : (sel.value || undefined);
  } else if (kind === "int" || kind === "float") {
    const input = el("input", { type: "number", id, step: kind === "int" ? "1" : "any",
      value: opt.default ?? "", placeholder: opt.default == null ? "" : String(opt.default) });
    wrap.append(el("label", { for: id, text: label }), input);
    get = () => {
      if (input.value === "") return undefined;
      const v = kind === "int" ? parseInt(input.value, 10) : parseFloat(input.value);
      if (Number.isNaN(v)) throw new Error(`${op.name} ${label}: not a number`);
      return v;
    };
  } else if (kind === "photo" || kind === "photos") {
    const multiple = kind === "photos" || !!opt.multiple;
    const grid = el("div", { class: "pick-grid photo-picker", role: multiple ? "group" : "radiogroup",
      "aria-label": label, dataset: { multiple: String(multiple), name: id } });
    wrap.append(el("div", { class: "label", text: label }), grid);
    get = () => {
      const vals = $$("input:checked", grid).map((i) => i.value);
      return multiple ? vals : vals[0];
    };
  } else { // text (and anything unknown)
    const input = el("input", { type: "text", id, value: opt.default == null ? "" : Array.isArray(opt.default) ? opt.default.join(" ") : opt.default,
      placeholder: opt.multiple ? "values separated by spaces" : "" });
    wrap.append(el("label", { for: id, text: label }), input);
    get = () => {
      const v = input.value.trim();
      if (!v) return undefined;
      return opt.multiple ? v.split(/\s+/) : v;
    };
  }
  if (help) wrap.append(help);
  return { wrap, get };
}

function fillPhotoPicker(grid) {
  const multiple = grid.dataset.multiple === "true";
  const checked = new Set($$("input:checked", grid).map((i) => i.value));
  grid.replaceChildren();
  for (const c of photoChoices()) {
    const input = el("input", { type: multiple ? "checkbox" : "radio", name: grid.dataset.name, value: c.value,
      "aria-label": c.label, checked: checked.has(c.value) });
    if (!multiple) input.addEventListener("click", () => { // a second click clears a radio
      if (input.dataset.was === "true") { input.checked = false; input.dataset.was = "false"; }
      else { $$("input", grid).forEach((i) => { i.dataset.was = "false"; }); input.dataset.was = "true"; }
    });
    grid.append(el("label", { title: c.label }, input, el("img", { src: c.thumb, alt: "" }),
      el("span", { text: c.value.startsWith("sample:") ? c.value.slice(7) : c.label })));
  }
}

function refreshPhotoPickers() {
  for (const g of $$(".photo-picker")) fillPhotoPicker(g);
  buildStyles();
}

function buildOperations() {
  const list = $("#ops-list");
  list.replaceChildren();
  (state.info.operations || []).forEach((op, k) => {
    const body = el("div", { class: "op-body" });
    const details = el("details", { class: "op", dataset: { op: op.name } }, el("summary", { text: op.name }), body);
    body.append(el("p", { class: "note", text: op.summary || "" }));
    if (op.example) body.append(el("p", { class: "note" }, el("code", { text: op.example })));
    if (op.error) {
      body.append(el("p", { class: "op-error", text: `Unavailable: ${op.error}` }));
      list.append(details);
      return;
    }
    const getters = {};
    for (const opt of op.options || []) {
      const { wrap, get } = optionControl(op, opt, `op${k}`);
      getters[opt.name] = { get, opt };
      body.append(wrap);
    }
    const run = el("button", { type: "button", class: "btn primary", text: `Run ${op.name}` });
    run.addEventListener("click", () => runOperation(op, getters, run));
    body.append(run);
    list.append(details);
  });
  for (const g of $$(".photo-picker")) fillPhotoPicker(g);
}

async function runOperation(op, getters, button) {
  const p = state.current;
  if (!p) { showError("open a photo first"); return; }
  const options = {};
  try {
    for (const [name, { get, opt }] of Object.entries(getters)) {
      const v = get();
      const empty = v === undefined || v === "" || (Array.isArray(v) && !v.length);
      if (empty) {
        if (opt.required) throw new Error(`${op.name}: ${opt.flag || name} is required`);
        continue;
      }
      options[name] = v; // photo options: photo ids of the session or "sample:N", as they are
    }
  } catch (e) {
    showError(e.message);
    return;
  }
  button.disabled = true;
  setBusy(true);
  try {
    // Operations work on the mask as painted here.
    await api(photoUrl(p.pid, "mask"), { method: "POST", json: { mask: await blobToBase64(await currentMaskPng()) } });
    const r = await api(sessionUrl("/edit"), { method: "POST", json: { op: op.name, photo: p.pid, options, view: state.view } });
    if (p !== state.current) return;
    const labels = [];
    const multi = getters.styles && options.styles;
    state.results = (r.results || []).map((x, k) => {
      const res = editResult(x, `${op.name}${r.results.length > 1 ? ` (${k + 1}/${r.results.length})` : ""}`);
      res.jsonUrl = res.jsonUrl || r.replay || null;
      res.label = multi && Array.isArray(options.styles) ? String(options.styles[k] ?? "") : labels[k];
      return res;
    });
    if (!state.results.length) { toast(`${op.name}: no result`); return; }
    setResult(state.results[0]);
    renderResultsRow();
    toast(`${op.name}: ${state.results.length} result${state.results.length > 1 ? "s" : ""}`);
  } catch (e) {
    showError(`${op.name}: ${e.message}`);
  } finally {
    button.disabled = false;
    setBusy(false);
  }
}

// -- region styles --------------------------------------------------------------------------

function buildStyles() {
  const box = $("#styles-list");
  box.replaceChildren();
  const choices = state.info ? photoChoices() : [];
  for (const comp of state.info.components || []) {
    const id = `style-${comp}`;
    const sel = el("select", { id });
    sel.append(el("option", { value: "", text: "this photo" }));
    for (const c of choices) {
      if (state.current && c.value === state.current.pid) continue;
      sel.append(el("option", { value: c.value, text: c.label }));
    }
    sel.value = state.styles[comp] || "";
    if (sel.value !== (state.styles[comp] || "")) { sel.value = ""; delete state.styles[comp]; }
    sel.addEventListener("change", () => {
      if (sel.value) state.styles[comp] = sel.value; else delete state.styles[comp];
      requestRender();
    });
    box.append(el("label", { for: id, text: comp.replace(/_/g, " ") }), sel);
  }
}

// -- downloads ------------------------------------------------------------------------------

async function downloadMask() {
  const p = state.current;
  if (!p) return;
  const blob = await currentMaskPng();
  const url = URL.createObjectURL(blob);
  const base = p.name.replace(/\.[^.]+$/, "").replace(/[^\w.-]+/g, "-");
  const a = el("a", { href: url, download: `${base}.mask.png` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}

// -- keyboard -------------------------------------------------------------------------------

function onKey(ev) {
  const t = ev.target;
  const typing = t && (t.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName))
    && !(t.type === "range" || t.type === "checkbox" || t.type === "radio");
  if (typing || $("dialog[open]")) return;
  const ctrl = ev.ctrlKey || ev.metaKey;
  const key = ev.key.toLowerCase();
  if (ctrl && key === "z") { ev.preventDefault(); ev.shiftKey ? redo() : undo(); return; }
  if (ctrl && key === "y") { ev.preventDefault(); redo(); return; }
  if (ctrl || ev.altKey) return;
  if (/^Digit\d$/.test(ev.code)) {
    selectClass(Number(ev.code.slice(5)) + (ev.shiftKey ? 10 : 0));
    ev.preventDefault();
    return;
  }
  switch (ev.key) {
    case "b": case "B": selectTool("brush"); break;
    case "f": case "F": selectTool("fill"); break;
    case "e": case "E": selectTool("erase"); break;
    case "[": setBrushSize(state.size - (state.size > 10 ? 2 : 1)); break;
    case "]": setBrushSize(state.size + (state.size >= 10 ? 2 : 1)); break;
    case ",": selectClass(Math.max(0, state.cls - 1)); break;
    case ".": selectClass(Math.min(state.classes.length - 1, state.cls + 1)); break;
    case "o": case "O": state.overlayOn = !state.overlayOn; applyOverlayOpacity(); break;
    case " ": flip(); break;
    case "?": $("#help-dialog").showModal(); break;
    default: return;
  }
  ev.preventDefault();
}

// -- start-up -------------------------------------------------------------------------------

function sampleButtons(container) {
  container.replaceChildren();
  for (const s of state.info.samples || []) {
    const n = Number(s.spec.split(":")[1]);
    container.append(el("button", {
      type: "button", class: "thumb sample", title: `Open ${s.spec}`, dataset: { sample: n },
      onclick: () => openSample(n),
    }, el("img", { src: s.url, alt: s.spec, loading: "lazy" }), el("span", { text: s.spec })));
  }
}

function setupDrop() {
  let depth = 0;
  const overlay = $("#drop-overlay");
  const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types).includes("Files");
  window.addEventListener("dragenter", (e) => { if (hasFiles(e)) { depth++; overlay.hidden = false; e.preventDefault(); } });
  window.addEventListener("dragleave", (e) => { if (hasFiles(e) && --depth <= 0) { depth = 0; overlay.hidden = true; } });
  window.addEventListener("dragover", (e) => { if (hasFiles(e)) e.preventDefault(); });
  window.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    const file = e.dataTransfer.files[0];
    if (file) openUpload(file);
  });
}

async function start() {
  setupDrop();
  document.addEventListener("keydown", onKey);
  $("#file-input").addEventListener("change", (e) => { openUpload(e.target.files[0]); e.target.value = ""; });
  $("#samples-btn").addEventListener("click", () => $("#samples-dialog").showModal());
  $("#help-btn").addEventListener("click", () => $("#help-dialog").showModal());
  $$(".tool").forEach((b) => b.addEventListener("click", () => selectTool(b.dataset.tool)));
  $("#brush-size").addEventListener("input", (e) => setBrushSize(Number(e.target.value)));
  $("#opacity").addEventListener("input", (e) => { state.overlay = Number(e.target.value) / 100; state.overlayOn = true; applyOverlayOpacity(); });
  $("#undo-btn").addEventListener("click", undo);
  $("#redo-btn").addEventListener("click", redo);
  $("#reset-btn").addEventListener("click", resetMask);
  $("#flip-btn").addEventListener("click", flip);
  $("#view-select").addEventListener("change", (e) => { state.view = e.target.value; updateBefore(); requestRender(); });
  $("#dl-mask").addEventListener("click", () => downloadMask().catch((e) => showError(e.message)));
  $("#use-mask-btn").addEventListener("click", useResultMask);
  for (const s of $$(".paint-surface")) setupPainting(s);
  setBrushSize(state.size);
  applyOverlayOpacity();

  try {
    state.info = await api("/api/info");
  } catch (e) {
    $("#model-info").textContent = "not connected";
    showError(`cannot load /api/info: ${e.message}`);
    return;
  }
  const info = state.info;
  state.R = info.model.resolution;
  state.classes = info.schema.classes;
  for (const c of state.classes) state.colorOf[c.id] = c.color;
  const variant = info.model.variant ? ` (${info.model.variant})` : "";
  $("#model-info").textContent = `${info.model.name}${variant} · ${state.R} px · ${info.schema.name}`;
  buildPalette();
  selectClass(state.classes.length > 1 ? 1 : 0);
  selectTool("brush");
  sampleButtons($("#empty-samples"));
  sampleButtons($("#dialog-samples"));
  buildStyles();
  buildOperations();
  document.body.dataset.ready = "true";
}

start();
