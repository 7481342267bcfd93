// Kirjuri web UI: small progressive enhancement. Every page works without
// this file; it adds the player's speed, waveform and per-channel listening,
// auto-submitting the language choice, and confirmation of destructive
// actions. Vendored, no build step, no inline code (the CSP forbids it).
'use strict';

(function () {
  // Confirmation for destructive form buttons (data-confirm="question").
  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('button[data-confirm]');
    if (button && !window.confirm(button.getAttribute('data-confirm'))) {
      event.preventDefault();
    }
  });

  // The language <select> submits itself; its button stays for no-JS use.
  document.querySelectorAll('select[data-autosubmit]').forEach(function (select) {
    select.addEventListener('change', function () { select.form.submit(); });
  });

  var section = document.getElementById('player');
  var audio = document.getElementById('audio');
  if (!section || !audio) { return; }
  var tools = document.getElementById('player-tools');
  var canvas = document.getElementById('waveform');
  var speed = document.getElementById('speed');
  tools.hidden = false;

  // --- speed -----------------------------------------------------------
  speed.addEventListener('change', function () {
    audio.playbackRate = parseFloat(speed.value) || 1;
  });
  audio.addEventListener('loadedmetadata', function () {
    audio.playbackRate = parseFloat(speed.value) || 1;
  });

  // --- waveform --------------------------------------------------------
  var peaks = null; // {channels, peaks_per_second, peaks: [[[min,max],…] per channel]}
  var ctx2d = canvas.getContext('2d');

  function duration() {
    if (isFinite(audio.duration) && audio.duration > 0) { return audio.duration; }
    if (peaks && peaks.peaks_per_second > 0 && peaks.peaks.length) {
      return peaks.peaks[0].length / peaks.peaks_per_second;
    }
    return 0;
  }

  function draw() {
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth * ratio;
    var height = canvas.clientHeight * ratio;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width; canvas.height = height;
    }
    ctx2d.fillStyle = '#ffffff';
    ctx2d.fillRect(0, 0, width, height);
    var total = duration();
    var played = total > 0 ? audio.currentTime / total : 0;
    if (peaks && peaks.peaks.length) {
      var channels = peaks.peaks.length;
      var band = height / channels;
      for (var c = 0; c < channels; c++) {
        var series = peaks.peaks[c];
        var middle = band * c + band / 2;
        var n = series.length;
        for (var x = 0; x < width; x++) {
          var from = Math.floor(x / width * n);
          var to = Math.max(from + 1, Math.floor((x + 1) / width * n));
          var low = 0, high = 0;
          for (var i = from; i < to && i < n; i++) {
            if (series[i][0] < low) { low = series[i][0]; }
            if (series[i][1] > high) { high = series[i][1]; }
          }
          ctx2d.fillStyle = x / width < played ? '#12355b' : '#7d8a9c';
          var top = middle - high * band / 2;
          ctx2d.fillRect(x, top, 1, Math.max(1, (high - low) * band / 2));
        }
      }
    }
    ctx2d.fillStyle = '#a4161a';
    ctx2d.fillRect(Math.round(played * width) - ratio, 0, 2 * ratio, height);
    canvas.setAttribute('aria-valuenow', String(Math.round(played * 100)));
    canvas.setAttribute('aria-valuetext', formatTime(audio.currentTime) + ' / ' + formatTime(total));
  }

  function formatTime(seconds) {
    seconds = Math.max(0, Math.floor(seconds || 0));
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ':' + (s < 10 ? '0' : '') + s;
  }

  function seekTo(seconds) {
    var total = duration();
    if (total <= 0) { return; }
    audio.currentTime = Math.min(Math.max(0, seconds), total);
    draw();
  }

  canvas.addEventListener('click', function (event) {
    var rect = canvas.getBoundingClientRect();
    seekTo((event.clientX - rect.left) / rect.width * duration());
  });
  canvas.addEventListener('keydown', function (event) {
    var handled = true;
    switch (event.key) {
      case 'ArrowLeft': case 'ArrowDown': seekTo(audio.currentTime - 5); break;
      case 'ArrowRight': case 'ArrowUp': seekTo(audio.currentTime + 5); break;
      case 'PageDown': seekTo(audio.currentTime - 30); break;
      case 'PageUp': seekTo(audio.currentTime + 30); break;
      case 'Home': seekTo(0); break;
      case 'End': seekTo(duration()); break;
      case ' ': if (audio.paused) { audio.play(); } else { audio.pause(); } break;
      default: handled = false;
    }
    if (handled) { event.preventDefault(); }
  });
  ['timeupdate', 'seeked', 'loadedmetadata', 'durationchange'].forEach(function (name) {
    audio.addEventListener(name, draw);
  });
  window.addEventListener('resize', draw);

  fetch(section.getAttribute('data-peaks'), { credentials: 'same-origin' })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (json) {
      if (json && Array.isArray(json.peaks)) { peaks = json; }
      draw();
    })
    .catch(function () { draw(); });
  draw();

  // --- per-channel listening (stereo: left = agent, right = customer) ---
  var radios = document.querySelectorAll('input[name="listen"]');
  var graph = null;

  function buildGraph() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return null; }
    var context = new Context();
    var source = context.createMediaElementSource(audio);
    var splitter = context.createChannelSplitter(2);
    var merger = context.createChannelMerger(2);
    source.connect(splitter);
    // gains[from][to]: how much of input channel `from` reaches output `to`.
    var gains = [[null, null], [null, null]];
    for (var from = 0; from < 2; from++) {
      for (var to = 0; to < 2; to++) {
        var gain = context.createGain();
        gain.gain.value = from === to ? 1 : 0;
        splitter.connect(gain, from);
        gain.connect(merger, 0, to);
        gains[from][to] = gain;
      }
    }
    merger.connect(context.destination);
    audio.addEventListener('play', function () { context.resume(); });
    return { context: context, gains: gains };
  }

  function listen(mode) {
    if (!graph) { graph = buildGraph(); }
    if (!graph) { return; }
    graph.context.resume();
    // Both: left to left, right to right. One side: that side to both ears.
    var matrix = {
      both: [[1, 0], [0, 1]],
      agent: [[1, 1], [0, 0]],
      customer: [[0, 0], [1, 1]]
    }[mode] || [[1, 0], [0, 1]];
    for (var from = 0; from < 2; from++) {
      for (var to = 0; to < 2; to++) {
        graph.gains[from][to].gain.value = matrix[from][to];
      }
    }
    section.setAttribute('data-listening', mode);
  }

  radios.forEach(function (radio) {
    radio.addEventListener('change', function () { if (radio.checked) { listen(radio.value); } });
  });
})();
