/* PAQA viewer: behaviour of the index page (paged, filtered clip table) and of clip pages
   (cursor, word highlight, seek on click, chain spans that play their time range).
   No libraries, no network: pages work opened from disk. */
(function () {
  "use strict";

  function clipPage() {
    const data = JSON.parse(document.getElementById("clip-data").textContent);
    const audio = document.getElementById("audio");
    const wave = document.getElementById("wave");
    const timeline = document.getElementById("timeline");
    const cursor = document.getElementById("cursor");
    const highlight = document.getElementById("highlight");
    const words = Array.from(document.querySelectorAll("#words .w"));
    const starts = words.map((w) => +w.dataset.s);
    const duration = data.duration || 1;
    let stopAt = null;
    let current = -1;

    function trackBox() {
      const t = wave.parentElement.getBoundingClientRect();
      const r = timeline.getBoundingClientRect();
      return { left: t.left - r.left, width: t.width };
    }
    function place(el, s, e) {
      const b = trackBox();
      el.style.left = (b.left + (b.width * Math.min(s, duration)) / duration) + "px";
      if (e !== undefined) el.style.width = Math.max(2, (b.width * (e - s)) / duration) + "px";
    }
    function drawWave() {
      wave.width = Math.max(1, wave.parentElement.clientWidth);
      const ctx = wave.getContext("2d");
      const w = wave.width, h = wave.height, p = data.peaks;
      ctx.clearRect(0, 0, w, h);
      ctx.fillStyle = "#4a6fa5";
      for (let x = 0; x < w && p.length; x++) {
        const [lo, hi] = p[Math.min(p.length - 1, Math.floor((x * p.length) / w))];
        const y1 = ((1 - hi) * h) / 2, y2 = ((1 - lo) * h) / 2;
        ctx.fillRect(x, y1, 1, Math.max(1, y2 - y1));
      }
    }
    function wordAt(t) { // last word starting at or before t, if t is still inside it
      let lo = 0, hi = starts.length - 1, found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (starts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
      }
      return found >= 0 && t < +words[found].dataset.e ? found : -1;
    }
    function tick() {
      const t = audio.currentTime;
      place(cursor, t);
      const i = wordAt(t);
      if (i !== current) {
        if (current >= 0) words[current].classList.remove("playing");
        if (i >= 0) words[i].classList.add("playing");
        current = i;
      }
      if (stopAt !== null && t >= stopAt) { audio.pause(); stopAt = null; }
    }
    function loop() { tick(); if (!audio.paused) requestAnimationFrame(loop); }
    function seek(s) { audio.currentTime = s; tick(); }
    function play() { audio.play().catch(() => {}); } // a refused autoplay is not an error here

    audio.addEventListener("play", () => requestAnimationFrame(loop));
    ["timeupdate", "seeked", "loadedmetadata", "pause"].forEach((ev) => audio.addEventListener(ev, tick));
    words.forEach((w) => w.addEventListener("click", () => { stopAt = null; seek(+w.dataset.s); }));
    document.querySelectorAll(".seg").forEach((seg) =>
      seg.addEventListener("click", () => { stopAt = null; seek(+seg.dataset.s); }));
    document.querySelectorAll(".wave .track, .spec .track").forEach((track) =>
      track.addEventListener("click", (ev) => {
        const r = track.getBoundingClientRect();
        stopAt = null;
        seek((duration * (ev.clientX - r.left)) / r.width);
      }));
    document.querySelectorAll("a.span").forEach((a) =>
      a.addEventListener("click", (ev) => {
        ev.preventDefault();
        const s = +a.dataset.s, e = +a.dataset.e;
        document.querySelectorAll("a.span.active").forEach((x) => x.classList.remove("active"));
        a.classList.add("active");
        highlight.hidden = false;
        place(highlight, s, e);
        seek(s);
        stopAt = e;
        play();
      }));
    window.addEventListener("resize", () => { drawWave(); tick(); });
    drawWave();
    tick();
    window.paqaClip = { data: data, seek: seek, audio: audio };
  }

  function indexPage() {
    const meta = JSON.parse(document.getElementById("index-meta").textContent);
    const chunks = {};
    const controls = {
      task: document.getElementById("f-task"), split: document.getElementById("f-split"),
      spk: document.getElementById("f-spk"), band: document.getElementById("f-band"),
      low: document.getElementById("f-low"), wrong: document.getElementById("f-wrong"),
      q: document.getElementById("f-q"),
    };
    const body = document.querySelector("#clips tbody");
    const pager = document.getElementById("pager");
    let page = 0;

    window.paqaChunk = function (k, rows) { chunks[k] = rows; };
    function load(k) {
      return new Promise((resolve, reject) => {
        if (chunks[k]) return resolve();
        const s = document.createElement("script");
        s.src = meta.chunks[k];
        s.onload = () => resolve();
        s.onerror = () => reject(new Error("cannot load " + meta.chunks[k]));
        document.head.appendChild(s);
      });
    }
    function active() {
      return controls.task.value || controls.split.value || controls.spk.value || controls.band.value ||
        controls.low.checked || (controls.wrong && controls.wrong.checked) || controls.q.value.trim();
    }
    function match(r) {
      const q = controls.q.value.trim().toLowerCase();
      return (!controls.task.value || r.tasks.includes(controls.task.value)) &&
        (!controls.split.value || r.split === controls.split.value) &&
        (!controls.spk.value || String(r.spk) === controls.spk.value) &&
        (!controls.band.value || r.band === controls.band.value) &&
        (!controls.low.checked || r.low) &&
        (!controls.wrong || !controls.wrong.checked || r.wrong > 0) &&
        (!q || (r.id + " " + r.text).toLowerCase().includes(q));
    }
    function cell(text, cls) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      return td;
    }
    async function render() {
      const per = meta.per_page;
      let rows, total;
      if (!active()) {
        const first = Math.floor((page * per) / meta.chunk_size);
        const last = Math.min(meta.chunks.length - 1, Math.floor(((page + 1) * per - 1) / meta.chunk_size));
        for (let k = first; k <= last; k++) await load(k);
        const all = [];
        for (let k = first; k <= last; k++) all.push(...chunks[k]);
        const off = page * per - first * meta.chunk_size;
        rows = all.slice(off, off + per);
        total = meta.total;
      } else {
        await Promise.all(meta.chunks.map((_, k) => load(k)));
        const found = [];
        meta.chunks.forEach((_, k) => chunks[k].forEach((r) => { if (match(r)) found.push(r); }));
        total = found.length;
        rows = found.slice(page * per, (page + 1) * per);
      }
      body.replaceChildren();
      rows.forEach((r) => {
        const tr = document.createElement("tr");
        const td = document.createElement("td");
        const a = document.createElement("a");
        a.href = r.href;
        a.textContent = r.id;
        td.appendChild(a);
        tr.appendChild(td);
        tr.appendChild(cell(r.split));
        tr.appendChild(cell(r.dur.toFixed(1) + " s", "num"));
        tr.appendChild(cell(r.spk === null ? "-" : r.spk + (r.conf === null ? "" : " (" + r.conf.toFixed(2) + ")"), "num"));
        tr.appendChild(cell(r.snr === null ? "-" : r.snr.toFixed(1) + " dB", "num"));
        tr.appendChild(cell(String(r.nq), "num"));
        tr.appendChild(cell(r.tasks.join(", ")));
        const flags = (r.low ? "low confidence " : "") + (r.wrong > 0 ? r.wrong + " wrong key(s)" : "");
        tr.appendChild(cell(flags, flags ? "flag" : ""));
        tr.appendChild(cell(r.text, "text"));
        body.appendChild(tr);
      });
      const pages = Math.max(1, Math.ceil(total / per));
      page = Math.min(page, pages - 1);
      pager.querySelector(".where").textContent = total ?
        `clips ${page * per + 1}-${Math.min(total, (page + 1) * per)} of ${total} (page ${page + 1} of ${pages})` :
        "no clip matches";
      pager.querySelector(".prev").disabled = page === 0;
      pager.querySelector(".next").disabled = page >= pages - 1;
      document.body.dataset.rendered = String(Date.now()); // tests wait for this
    }
    function refresh() { page = 0; render().catch((e) => console.error(e.message)); }
    Object.values(controls).forEach((c) => c && c.addEventListener(c.type === "text" || c.type === "search" ? "input" : "change", refresh));
    pager.querySelector(".prev").addEventListener("click", () => { page -= 1; render(); });
    pager.querySelector(".next").addEventListener("click", () => { page += 1; render(); });
    window.paqaIndex = { render: render, meta: meta, chunks: chunks };
    render().catch((e) => console.error(e.message));
  }

  if (document.getElementById("clip-data")) clipPage();
  if (document.getElementById("index-meta")) indexPage();
})();
