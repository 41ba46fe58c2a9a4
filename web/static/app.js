// Conveyor dashboard: live updates over one server-sent-events stream, forms sent in the
// background with the session's CSRF token, and the build log viewer. Every page works without
// this script; it only saves reloads.
(function () {
  'use strict';
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : '';

  // --- live regions -------------------------------------------------------------------------
  // Elements with data-live and an id are replaced by their new version when an event the page
  // listens to arrives. A region holding the focus waits until the focus leaves; open <details>
  // and typed values survive the swap.
  var refreshing = false, again = false, lastRefresh = 0, timer = null;

  function scheduleRefresh() {
    if (timer) return;
    var wait = Math.max(0, 400 - (Date.now() - lastRefresh));
    timer = setTimeout(function () { timer = null; refresh(); }, wait);
  }

  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true; lastRefresh = Date.now();
    fetch(location.href, { headers: { 'X-Requested-With': 'conveyor', 'Accept': 'text/html' }, credentials: 'same-origin' })
      .then(function (resp) {
        if (resp.status === 401) { location.reload(); return null; }
        return resp.ok ? resp.text() : null;
      })
      .then(function (html) { if (html) swap(html); })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) { again = false; scheduleRefresh(); }
      });
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, 'text/html');
    var regions = document.querySelectorAll('[data-live][id]');
    for (var i = 0; i < regions.length; i++) {
      var old = regions[i], fresh = doc.getElementById(old.id);
      if (!fresh) continue;
      if (old.contains(document.activeElement) && document.activeElement !== document.body) {
        old.setAttribute('data-stale', '1');
        continue;
      }
      replaceRegion(old, fresh);
    }
  }

  function replaceRegion(old, fresh) {
    var open = {};
    old.querySelectorAll('details[open][id]').forEach(function (d) { open[d.id] = true; });
    var typed = {};
    old.querySelectorAll('[data-dirty][name]').forEach(function (el) { typed[el.name] = el.value; });
    for (var j = 0; j < fresh.attributes.length; j++) old.setAttribute(fresh.attributes[j].name, fresh.attributes[j].value);
    old.removeAttribute('data-stale');
    old.innerHTML = fresh.innerHTML;
    old.querySelectorAll('details[id]').forEach(function (d) { if (open[d.id]) d.open = true; });
    old.querySelectorAll('[name]').forEach(function (el) {
      if (Object.prototype.hasOwnProperty.call(typed, el.name) && el.type !== 'hidden') { el.value = typed[el.name]; el.setAttribute('data-dirty', '1'); }
    });
    document.dispatchEvent(new CustomEvent('conveyor:swapped', { detail: old }));
  }

  document.addEventListener('input', function (e) { if (e.target.name) e.target.setAttribute('data-dirty', '1'); });
  document.addEventListener('focusout', function () {
    setTimeout(function () { if (document.querySelector('[data-stale]')) scheduleRefresh(); }, 0);
  });

  var topics = (document.body.getAttribute('data-topics') || '').split(' ').filter(Boolean);
  if (topics.length && window.EventSource) {
    var qs = topics.map(function (t) { return 'topic=' + encodeURIComponent(t); }).join('&');
    // Start from the event the page was rendered at: nothing that changed since is missed.
    var since = document.body.getAttribute('data-event-id');
    var es = new EventSource('/events?' + qs + (since ? '&lastEventId=' + encodeURIComponent(since) : ''));
    var live = document.getElementById('live');
    es.onopen = function () { if (live) live.hidden = false; };
    es.onerror = function () { if (live) live.hidden = true; };
    ['pipeline', 'build', 'deployment', 'agent', 'webhook', 'notification', 'reset'].forEach(function (kind) {
      es.addEventListener(kind, scheduleRefresh);
    });
    window.addEventListener('beforeunload', function () { es.close(); });
  }

  // --- forms --------------------------------------------------------------------------------
  function flash(kind, text) {
    var old = document.querySelector('.flash');
    if (old) old.remove();
    var div = document.createElement('div');
    div.className = 'flash ' + kind;
    div.setAttribute('role', 'status');
    div.textContent = text;
    document.querySelector('main').before(div);
  }

  document.addEventListener('submit', function (e) {
    var form = e.target;
    var ask = form.getAttribute('data-confirm');
    if (ask && !window.confirm(ask)) { e.preventDefault(); return; }
    if (!form.hasAttribute('data-fetch') || !window.fetch) return;
    e.preventDefault();
    var data = new URLSearchParams(new FormData(form, e.submitter));
    var buttons = form.querySelectorAll('button');
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(form.action, {
      method: 'POST', body: data, credentials: 'same-origin',
      headers: { 'X-CSRF-Token': csrf, 'X-Requested-With': 'conveyor', 'Accept': 'application/json' }
    }).then(function (resp) {
      return resp.json().catch(function () { return { error: 'HTTP ' + resp.status }; });
    }).then(function (out) {
      if (out.error) { flash('error', out.error); return; }
      flash('ok', out.message || 'Done');
      var d = form.closest('details');
      if (d) d.open = false;
      form.querySelectorAll('[data-dirty]').forEach(function (el) { el.removeAttribute('data-dirty'); });
      if (out.location && out.location !== location.pathname) { location.assign(out.location); } else { scheduleRefresh(); }
    }).catch(function (err) { flash('error', String(err)); })
      .then(function () { buttons.forEach(function (b) { b.disabled = false; }); });
  });

  // --- the build log --------------------------------------------------------------------------
  // Only a window of the log is in the page (at most MAX lines): it opens at the last lines,
  // loads earlier ones on demand, follows new ones live, and jumps to search hits. A 100 MB log
  // costs the browser what a small one does.
  var logEl = document.getElementById('log');
  if (logEl && window.fetch) initLog(logEl);

  function initLog(el) {
    var MAX = 3000, PAGE = 1000;
    var build = el.getAttribute('data-build');
    var base = '/api/v1/builds/' + encodeURIComponent(build).replace(/%3A/gi, ':') + '/logs'; // ids are project:uuid
    var first = parseInt(el.getAttribute('data-first'), 10) || 1;
    var total = parseInt(el.getAttribute('data-total'), 10) || 0;
    var last = total;
    var finished = el.getAttribute('data-finished') === 'true';
    var atEnd = true, following = null, loading = false, pending = [];
    var status = document.getElementById('log-status');

    function line(n, text) {
      var div = document.createElement('div');
      div.className = 'ln';
      div.setAttribute('data-n', n);
      var num = document.createElement('span'); num.className = 'n'; num.textContent = n;
      var t = document.createElement('span'); t.className = 't'; t.textContent = text;
      div.appendChild(num); div.appendChild(t);
      return div;
    }
    function lines() { return el.querySelectorAll('.ln'); }
    function setStatus() {
      if (status) status.textContent = (first > 1 || last < total ? 'lines ' + first + '–' + last + ' of ' + total : total + ' lines') +
        (finished ? '' : (following ? ' · following live' : ' · not following')) + (atEnd ? '' : ' · ');
      if (status && !atEnd) {
        var b = document.createElement('button'); b.className = 'small'; b.textContent = 'Jump to the end';
        b.onclick = function () { jumpTo(0); };
        status.appendChild(b);
      }
    }
    function moreButton() {
      var old = el.querySelector('.log-more');
      if (old) old.remove();
      if (first <= 1) return;
      var div = document.createElement('div'); div.className = 'log-more';
      var b = document.createElement('button'); b.className = 'small'; b.textContent = 'Load earlier lines (' + (first - 1) + ' more)';
      b.onclick = loadEarlier;
      div.appendChild(b);
      el.insertBefore(div, el.firstChild);
    }
    function nearBottom() { return el.scrollHeight - el.scrollTop - el.clientHeight < 40; }

    function loadEarlier() {
      if (loading || first <= 1) return;
      loading = true;
      var from = Math.max(1, first - PAGE), limit = first - from;
      fetch(base + '?from=' + from + '&limit=' + limit, { credentials: 'same-origin' })
        .then(function (r) { return r.json(); })
        .then(function (out) {
          var before = el.scrollHeight, frag = document.createDocumentFragment();
          out.lines.forEach(function (text, i) { frag.appendChild(line(out.first + i, text)); });
          var anchor = el.querySelector('.ln');
          el.insertBefore(frag, anchor);
          first = out.first;
          el.scrollTop += el.scrollHeight - before;
          var all = lines();
          if (all.length > MAX) { // drop the bottom: we are reading history now
            for (var i = all.length - 1; i >= MAX; i--) all[i].remove();
            last = first + MAX - 1;
            atEnd = false;
            stopFollow();
          }
          moreButton(); setStatus();
        })
        .catch(function () {})
        .then(function () { loading = false; });
    }

    // jumpTo shows the window around line n (0: the end, then follows).
    function jumpTo(n, highlight) {
      stopFollow();
      var url = n > 0 ? base + '?from=' + Math.max(1, n - 100) + '&limit=500' : base + '?tail=500';
      return fetch(url, { credentials: 'same-origin' }).then(function (r) { return r.json(); }).then(function (out) {
        lines().forEach(function (l) { l.remove(); });
        var empty = el.querySelector('.empty-log'); if (empty) empty.remove();
        var frag = document.createDocumentFragment();
        out.lines.forEach(function (text, i) { frag.appendChild(line(out.first + i, text)); });
        el.appendChild(frag);
        first = out.first; total = out.total; last = out.first + out.lines.length - 1;
        finished = out.complete;
        atEnd = last >= total;
        moreButton();
        if (highlight) {
          var hit = el.querySelector('.ln[data-n="' + n + '"]');
          if (hit) { hit.classList.add('hit'); el.scrollTop = hit.offsetTop - el.clientHeight / 3; }
        } else {
          el.scrollTop = el.scrollHeight;
        }
        if (atEnd) follow();
        setStatus();
      });
    }

    function flush() {
      if (!pending.length) return;
      var stick = nearBottom(), frag = document.createDocumentFragment();
      pending.forEach(function (p) { frag.appendChild(line(p.n, p.text)); last = p.n; });
      pending = [];
      var empty = el.querySelector('.empty-log'); if (empty) empty.remove();
      el.appendChild(frag);
      total = Math.max(total, last);
      var all = lines();
      if (all.length > MAX) {
        for (var i = 0; i < all.length - MAX; i++) all[i].remove();
        first = parseInt(el.querySelector('.ln').getAttribute('data-n'), 10);
        moreButton();
      }
      if (stick) el.scrollTop = el.scrollHeight;
      setStatus();
    }

    function follow() {
      if (finished || following || !window.EventSource) return;
      following = new EventSource(base + '?follow=1&from=' + (last + 1));
      following.addEventListener('line', function (e) {
        var n = parseInt(e.lastEventId, 10);
        if (n <= last) return;
        pending.push({ n: n, text: JSON.parse(e.data) });
        if (pending.length === 1) requestAnimationFrame(flush);
      });
      following.addEventListener('end', function () { flush(); finished = true; stopFollow(); setStatus(); });
    }
    function stopFollow() { if (following) { following.close(); following = null; } }

    el.addEventListener('scroll', function () { if (el.scrollTop < 30 && first > 1) loadEarlier(); });
    el.scrollTop = el.scrollHeight;
    moreButton(); follow(); setStatus();

    var form = document.getElementById('log-search');
    var results = document.getElementById('log-results');
    if (form && results) {
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        var q = form.querySelector('input[name=q]').value.trim();
        if (!q) { results.hidden = true; return; }
        search(q, 0, true);
      });
    }
    function search(q, from, fresh) {
      fetch(form.action + '?q=' + encodeURIComponent(q) + '&from=' + from, { credentials: 'same-origin' })
        .then(function (r) { return r.json(); })
        .then(function (out) {
          if (fresh) results.textContent = '';
          results.hidden = false;
          var more = results.querySelector('.search-more'); if (more) more.remove();
          if (out.error) { results.textContent = out.error; return; }
          if (fresh && !out.matches.length) { results.textContent = 'No line contains "' + q + '".'; }
          out.matches.forEach(function (m) {
            var a = document.createElement('a'); a.href = '#L' + m.line;
            var n = document.createElement('span'); n.className = 'n'; n.textContent = m.line;
            a.appendChild(n); a.appendChild(document.createTextNode(m.text));
            a.onclick = function (ev) { ev.preventDefault(); jumpTo(m.line, true); };
            results.appendChild(a);
          });
          if (out.next > 0) {
            var b = document.createElement('button'); b.className = 'small search-more'; b.textContent = 'More matches after line ' + out.next;
            b.onclick = function () { search(q, out.next, false); };
            results.appendChild(b);
          }
        });
    }
  }
})();
