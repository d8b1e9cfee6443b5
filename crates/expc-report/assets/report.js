// expc report: draws the data embedded in the page (element #report-data) with ECharts.
// Every value from a run reaches the page through textContent or ECharts' text, never
// through innerHTML. When everything is drawn, <body> gets data-ready="1" and each chart
// element a data-marks attribute counting the marks ECharts drew, for tests.
(function () {
  'use strict';

  var data = JSON.parse(document.getElementById('report-data').textContent);
  var COLORS = {
    ran: '#2e7d32', cached: '#1e6fd9', failed: '#d32f2f',
    skipped: '#9e9e9e', not_run: '#c7c7c7',
    succeeded: '#2e7d32', interrupted: '#ef6c00', running: '#6a1b9a'
  };
  var TASK_STATES = ['ran', 'cached', 'failed', 'skipped', 'not_run'];
  var charts = {};
  // Milliseconds each part took to draw, for `cargo xtask bench`.
  var timings = {};
  function timed(name, f) {
    var t = performance.now();
    f();
    timings[name] = Math.round(performance.now() - t);
  }
  var current = 0;

  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return '';
    if (ms < 1000) return ms + ' ms';
    var s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + ' s';
    var m = Math.floor(s / 60), r = Math.round(s - m * 60);
    if (m < 60) return m + 'm' + (r < 10 ? '0' : '') + r + 's';
    var h = Math.floor(m / 60);
    return h + 'h' + (m % 60 < 10 ? '0' : '') + (m % 60) + 'm';
  }

  function badge(status) {
    var b = el('span', status, 'status');
    b.style.background = COLORS[status] || '#777';
    return b;
  }

  function chart(id) {
    if (charts[id]) return charts[id];
    charts[id] = echarts.init($(id), null, { renderer: 'canvas' });
    return charts[id];
  }

  // Marks ECharts drew for a series: items that have a graphic element.
  function drawn(c, seriesIndex, edges, first) {
    var series = c.getModel().getSeriesByIndex(seriesIndex);
    if (!series) return 0;
    var d = edges ? series.getEdgeData() : series.getData();
    var n = 0;
    var count = first === undefined ? d.count() : Math.min(first, d.count());
    for (var i = 0; i < count; i++) {
      if (d.getItemGraphicEl(i)) n++;
    }
    return n;
  }

  function row(table, cells, header) {
    var tr = document.createElement('tr');
    cells.forEach(function (c) {
      var td = el(header ? 'th' : 'td');
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? '' : String(c);
      tr.appendChild(td);
    });
    table.appendChild(tr);
    return tr;
  }

  function field(run, name) {
    var v = run.summary[name];
    return v === null || v === undefined ? '' : v;
  }

  // ---- runs and summary ---------------------------------------------------------------

  function renderRuns() {
    $('generated').textContent = 'expc ' + data.expc_version + ' · ' + data.runs.length +
      (data.runs.length === 1 ? ' run' : ' runs');
    if (data.runs.length < 2) return;
    $('runs-section').hidden = false;
    $('run-picker').hidden = false;
    var t = $('runs-table');
    row(t, ['run', 'status', 'experiment', 'started', 'duration', 'instances', 'ran', 'cached', 'failed', 'git'], true);
    data.runs.forEach(function (run, i) {
      var tr = row(t, [field(run, 'id'), badge(field(run, 'status')), field(run, 'experiment'),
        field(run, 'started_at'), duration(run.duration_ms), field(run, 'instances'),
        field(run, 'ran'), field(run, 'cached'), field(run, 'failed'), git(run)]);
      tr.className = 'clickable';
      tr.addEventListener('click', function () { select(i); });
      $('run-select').appendChild(el('option', field(run, 'id'))).value = String(i);
    });
    $('run-select').addEventListener('change', function (e) { select(Number(e.target.value)); });
    highlight(0);
  }

  function git(run) {
    var c = field(run, 'git_commit');
    if (!c) return 'not in a git repository';
    return String(c).slice(0, 12) + (field(run, 'git_dirty') === 1 ? ' + uncommitted changes' : '');
  }

  function renderSummary(run) {
    $('run-id').textContent = field(run, 'id');
    var t = $('summary-table');
    t.textContent = '';
    var diff = field(run, 'git_diff_hash');
    [
      ['status', badge(field(run, 'status'))],
      ['experiment', field(run, 'experiment')],
      ['spec', field(run, 'spec_path')],
      ['spec hash', field(run, 'spec_hash')],
      ['pipeline', field(run, 'pipeline')],
      ['started', field(run, 'started_at')],
      ['ended', field(run, 'ended_at')],
      ['duration', duration(run.duration_ms)],
      ['user@host', field(run, 'user') + '@' + field(run, 'host')],
      ['git', git(run) + (diff ? ' (diff blake3 ' + String(diff).slice(0, 16) + ')' : '')],
      ['instances', field(run, 'instances') + ': ' + field(run, 'ran') + ' ran, ' + field(run, 'cached') +
        ' cached, ' + field(run, 'failed') + ' failed, ' + field(run, 'skipped') + ' skipped'],
      ['expc', field(run, 'expc_version')]
    ].forEach(function (kv) {
      var tr = row(t, [kv[0], kv[1]]);
      var th = el('th', kv[0]);
      tr.replaceChild(th, tr.firstChild);
    });
    var p = $('params-table');
    p.textContent = '';
    row(p, ['name', 'type', 'value'], true);
    run.params.forEach(function (x) {
      row(p, [x[0], x[1], typeof x[2] === 'string' ? x[2] : JSON.stringify(x[2])]);
    });
    if (!run.params.length) row(p, ['(none)', '', '']);
    $('environment-text').textContent = JSON.stringify(run.summary.environment, null, 2);
  }

  // ---- DAG ----------------------------------------------------------------------------

  function renderDag(run) {
    var dag = run.dag;
    var layers = 0, rows = 0;
    dag.nodes.forEach(function (n) { layers = Math.max(layers, n.layer + 1); rows = Math.max(rows, n.row + 1); });
    var height = Math.max(260, Math.min(900, rows * 64 + 60));
    $('dag').style.height = height + 'px';
    // The legend: a swatch in each state's own colour, then its name.
    var legend = $('dag-legend');
    legend.textContent = dag.nodes.length + ' nodes, ' + dag.edges.length + ' edges. Colours: ';
    var swatches = TASK_STATES.map(function (s, i) {
      var swatch = el('span', '\u25a0', 'swatch');
      swatch.style.color = COLORS[s];
      legend.appendChild(swatch);
      legend.appendChild(document.createTextNode(' ' + s + (i + 1 < TASK_STATES.length ? '   ' : '')));
      return swatch;
    });
    legend.appendChild(document.createTextNode('. A call with many instances is one node.'));
    $('dag').setAttribute('data-legend', TASK_STATES.map(function (s, i) {
      return s + '=' + getComputedStyle(swatches[i]).color;
    }).join(';'));
    // Node positions in pixels (one data unit is one pixel: the series' box is the
    // layout's own), scaled down to fit the chart's width. Each edge runs from its source's
    // right border to its target's left border, between two invisible port nodes, so that
    // its arrowhead touches the box it points at (ECharts would stop an edge at a circle
    // around the node's centre, inside or short of a wide box).
    var W = 180, H = 40, GAP = 120;
    var width = $('dag').clientWidth || 900;
    var k = Math.min(1, (width - 40) / Math.max(1, layers * W + (layers - 1) * GAP));
    var w = W * k, step = (W + GAP) * k;
    var nodes = dag.nodes.map(function (n, i) {
      var counts = Object.keys(n.counts).map(function (k) { return n.counts[k] + ' ' + k; }).join(' · ');
      var single = n.tasks.length === 1;
      return {
        id: String(i),
        name: n.label,
        x: n.layer * step + w / 2,
        y: n.row * 64,
        value: n.duration_ms,
        symbolSize: [w, H],
        itemStyle: { color: COLORS[n.status] || '#777' },
        label: {
          formatter: n.label + '\n' + (single ? n.status : counts) +
            (n.duration_ms !== null ? ' · ' + duration(n.duration_ms) : '')
        },
        tooltipText: n.label + ' — ' + counts + (n.duration_ms !== null ? '; total ' + duration(n.duration_ms) : '')
      };
    });
    var real = nodes.length;
    function port(i, side) {
      var n = nodes[i];
      nodes.push({
        id: side + i, name: '', x: n.x + (side === 'out' ? w / 2 : -w / 2), y: n.y,
        symbolSize: 1, itemStyle: { opacity: 0 }, label: { show: false },
        silent: true, tooltipText: ''
      });
    }
    for (var i = 0; i < real; i++) { port(i, 'in'); port(i, 'out'); }
    var right = Math.max(0, (layers - 1) * step + w);
    var c = chart('dag');
    c.setOption({
      animation: false,
      tooltip: { formatter: function (p) { return p.dataType === 'node' && p.data.tooltipText ? esc(p.data.tooltipText) : ''; } },
      series: [{
        type: 'graph',
        layout: 'none',
        roam: true,
        left: 20, top: 30, width: Math.max(1, right), height: Math.max(1, (rows - 1) * 64),
        symbol: 'roundRect',
        lineStyle: { color: '#8a94a6', width: 1.2, opacity: 0.9, curveness: 0.08 },
        edgeSymbol: ['none', 'arrow'],
        edgeSymbolSize: 8,
        label: { show: true, color: '#fff', fontSize: 11, lineHeight: 14 },
        data: nodes,
        links: dag.edges.map(function (e) { return { source: 'out' + e[0], target: 'in' + e[1] }; })
      }]
    }, true);
    // For tests: how far, in pixels, the farthest edge end is from its target box's left
    // border (and its start from its source's right border).
    var gap = 0;
    dag.edges.forEach(function (e) {
      var from = c.convertToPixel({ seriesIndex: 0 }, [nodes[e[0]].x + w / 2, nodes[e[0]].y]);
      var to = c.convertToPixel({ seriesIndex: 0 }, [nodes[e[1]].x - w / 2, nodes[e[1]].y]);
      var src = c.convertToPixel({ seriesIndex: 0 }, [nodes[e[0]].x, nodes[e[0]].y]);
      var dst = c.convertToPixel({ seriesIndex: 0 }, [nodes[e[1]].x, nodes[e[1]].y]);
      gap = Math.max(gap,
        Math.abs(from[0] - src[0] - w / 2), Math.abs(from[1] - src[1]),
        Math.abs(dst[0] - to[0] - w / 2), Math.abs(to[1] - dst[1]));
    });
    $('dag').setAttribute('data-edge-gap', gap.toFixed(1));
    $('dag').setAttribute('data-nodes', drawn(c, 0, false, real));
    $('dag').setAttribute('data-edges', drawn(c, 0, true));
    $('dag').setAttribute('data-marks', drawn(c, 0, false, real));
  }

  // Text for ECharts tooltips, which are HTML.
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  // ---- timeline -----------------------------------------------------------------------

  function renderTimeline(run) {
    var tl = run.timeline;
    $('timeline').style.height = Math.max(200, Math.min(900, tl.lanes.length * 26 + 110)) + 'px';
    var c = chart('timeline');
    var items = tl.bars.map(function (b) {
      var t = run.tasks[b.task];
      return {
        value: [b.lane, b.start_ms, b.end_ms, b.task],
        itemStyle: { color: COLORS[t.status] || '#777' }
      };
    });
    c.setOption({
      animation: false,
      tooltip: {
        formatter: function (p) {
          var t = run.tasks[p.value[3]];
          return esc(t.instance + ' (' + t.status + ') ' + duration(p.value[2] - p.value[1]) +
            ' on ' + tl.lanes[p.value[0]]);
        }
      },
      grid: { left: 170, right: 30, top: 20, bottom: 60 },
      dataZoom: [{ type: 'slider', xAxisIndex: 0, filterMode: 'weakFilter', height: 18, bottom: 12 },
                 { type: 'inside', xAxisIndex: 0, filterMode: 'weakFilter' }],
      xAxis: { type: 'value', min: 0, axisLabel: { formatter: function (v) { return duration(v); } } },
      yAxis: { type: 'category', data: tl.lanes, inverse: true, axisLabel: { width: 160, overflow: 'truncate' } },
      series: [{
        type: 'custom',
        renderItem: function (params, api) {
          var lane = api.value(0);
          var start = api.coord([api.value(1), lane]);
          var end = api.coord([api.value(2), lane]);
          var h = api.size([0, 1])[1] * 0.6;
          var cs = params.coordSys;
          var rect = echarts.graphic.clipRectByRect(
            { x: start[0], y: start[1] - h / 2, width: Math.max(end[0] - start[0], 2), height: h },
            { x: cs.x, y: cs.y, width: cs.width, height: cs.height });
          return rect && { type: 'rect', shape: rect, style: api.style() };
        },
        encode: { x: [1, 2], y: 0 },
        data: items
      }]
    }, true);
    $('timeline').setAttribute('data-marks', drawn(c, 0, false));
  }

  // ---- tasks --------------------------------------------------------------------------

  // The first MAX_TASK_ROWS tasks, or all of them: a table of thousands of rows costs the
  // browser more to lay out than every chart to draw.
  var MAX_TASK_ROWS = 200;

  function renderTasks(run, all) {
    var t = $('tasks-table');
    t.textContent = '';
    row(t, ['#', 'instance', 'task', 'status', 'start', 'duration', 'host', 'backend', 'exit', 'attempts', 'values', 'metrics', 'used of asked', 'logs'], true);
    var shown = all ? run.tasks : run.tasks.slice(0, MAX_TASK_ROWS);
    var more = $('tasks-more');
    more.hidden = shown.length === run.tasks.length;
    more.textContent = 'Show all ' + run.tasks.length + ' tasks';
    more.onclick = function () { renderTasks(run, true); };
    t.setAttribute('data-rows', shown.length);
    shown.forEach(function (task) {
      var logs;
      if (task.stdout !== null || task.stderr !== null) {
        logs = el('details');
        logs.appendChild(el('summary', 'tail'));
        logs.addEventListener('toggle', function () {
          if (logs.childNodes.length > 1) return;
          logs.appendChild(el('div', 'stdout'));
          logs.appendChild(el('pre', task.stdout || '(empty)'));
          logs.appendChild(el('div', 'stderr'));
          logs.appendChild(el('pre', task.stderr || '(empty)'));
        });
      } else {
        logs = el('span', task.message || (task.status === 'cached' ? 'cached' : ''), 'note');
      }
      var tr = row(t, [task.id, task.instance, task.task, badge(task.status),
        task.start_ms === null ? '' : duration(task.start_ms),
        task.start_ms === null || task.end_ms === null ? '' : duration(task.end_ms - task.start_ms),
        task.host, task.backend + ' (' + task.resource + ')' + (task.job_id ? ' job ' + task.job_id : ''),
        task.exit_code, task.attempts,
        task.values.map(function (v) { return v[0] + '=' + v[1]; }).join(' '),
        task.metrics.map(function (m) { return m[0] + '=' + m[1]; }).join(' '),
        task.efficiency || '',
        logs]);
      tr.title = task.argv.join(' ');
    });
  }

  // ---- parameters and metrics ---------------------------------------------------------

  var cmp = data.compare;
  var brushed = null;   // rows inside the parallel plot's brushes (null: all)
  var lassoed = null;   // rows inside the scatter plot's selection (null: all)
  var sortBy = { col: -1, desc: false };
  var MAX_TABLE_ROWS = 200;

  function rowLabel(r) {
    var run = data.runs[r.run], task = run.tasks[r.task];
    return (data.runs.length > 1 ? String(field(run, 'id')) + ' ' : '') + task.instance;
  }

  function axisSpec(a, dim) {
    var spec = { dim: dim, name: a.name + (a.kind === 'metric' ? ' ◆' : '') };
    if (a.categories.length) { spec.type = 'category'; spec.data = a.categories; }
    else { spec.type = 'value'; spec.scale = true; }
    return spec;
  }

  function renderCompare() {
    if (!cmp) return;
    $('compare-section').hidden = false;
    var t0 = performance.now();
    var p = chart('parallel');
    p.setOption({
      animation: false,
      parallel: { left: 60, right: 90, top: 50, bottom: 30, parallelAxisDefault: { nameLocation: 'end', nameGap: 16 } },
      parallelAxis: cmp.axes.map(axisSpec),
      tooltip: { formatter: function (q) { return esc(rowLabel(cmp.rows[q.dataIndex])); } },
      series: [{
        type: 'parallel',
        lineStyle: { width: 1.5, opacity: 0.6, color: '#1e6fd9' },
        inactiveOpacity: 0.05,
        activeOpacity: 1,
        smooth: false,
        data: cmp.rows.map(function (r) { return r.values; })
      }]
    });
    p.on('axisareaselected', function () {
      var s = p.getModel().getSeriesByIndex(0);
      var active = s.getRawIndicesByActiveState('active');
      brushed = active.length === cmp.rows.length ? null : active;
      renderScatter();
      renderSelection();
    });
    $('parallel').setAttribute('data-marks', drawn(p, 0, false));
    $('parallel').setAttribute('data-axes', cmp.axes.length);
    timings.parallel = Math.round(performance.now() - t0);

    ['scatter-x', 'scatter-y'].forEach(function (id, k) {
      var s = $(id);
      cmp.axes.forEach(function (a, i) { s.appendChild(el('option', a.name)).value = String(i); });
      var firstMetric = cmp.axes.findIndex(function (a) { return a.kind === 'metric'; });
      var firstOther = cmp.axes.findIndex(function (a) { return a.kind !== 'metric'; });
      var x = firstOther >= 0 ? firstOther : 0;
      var y = firstMetric >= 0 && firstMetric !== x ? firstMetric : (x === 0 ? 1 : 0);
      s.value = String(k === 0 ? x : y);
      s.addEventListener('change', function () { lassoed = null; renderScatter(true); renderSelection(); });
    });
    var sc = chart('scatter');
    sc.on('brushselected', function (e) {
      var b = e.batch && e.batch[0];
      if (!b || !b.areas.length) lassoed = null;
      else lassoed = b.selected[0] ? b.selected[0].dataIndex.slice() : [];
      renderSelection();
    });
    timed('scatter', function () { renderScatter(true); });
    timed('selection', renderSelection);
  }

  function scatterAxis(a) {
    return a.categories.length
      ? { type: 'category', data: a.categories, name: a.name, nameLocation: 'middle', nameGap: 28 }
      : { type: 'value', scale: true, name: a.name, nameLocation: 'middle', nameGap: 28 };
  }

  function renderScatter(reset) {
    var xi = Number($('scatter-x').value), yi = Number($('scatter-y').value);
    var inBrush = brushed ? new Set(brushed) : null;
    // The third value says whether the point is inside the parallel plot's brushes.
    var points = cmp.rows.map(function (r, i) {
      return [r.values[xi], r.values[yi], !inBrush || inBrush.has(i) ? 1 : 0];
    });
    var sc = chart('scatter');
    var option = {
      animation: false,
      grid: { left: 70, right: 40, top: 40, bottom: 50 },
      tooltip: { formatter: function (q) { return esc(rowLabel(cmp.rows[q.dataIndex])); } },
      toolbox: { right: 20, feature: { brush: { type: ['rect', 'polygon', 'clear'], title: { rect: 'box', polygon: 'lasso', clear: 'clear' } } } },
      brush: { xAxisIndex: 0, throttleType: 'debounce', throttleDelay: 100, outOfBrush: { colorAlpha: 0.2 } },
      visualMap: { type: 'piecewise', show: false, dimension: 2, seriesIndex: 0,
        pieces: [{ value: 1, color: '#1e6fd9' }, { value: 0, color: '#c9ced6' }] },
      xAxis: scatterAxis(cmp.axes[xi]),
      yAxis: scatterAxis(cmp.axes[yi]),
      series: [{ type: 'scatter', symbolSize: 9, encode: { x: 0, y: 1 }, data: points }]
    };
    if (reset) {
      sc.setOption(option, true);
    } else {
      sc.setOption({ series: [{ data: points }] });
    }
    $('scatter').setAttribute('data-marks', drawn(sc, 0, false));
  }

  function selectedRows() {
    var keep = cmp.rows.map(function (_, i) { return i; });
    if (brushed) { var a = new Set(brushed); keep = keep.filter(function (i) { return a.has(i); }); }
    if (lassoed) { var b = new Set(lassoed); keep = keep.filter(function (i) { return b.has(i); }); }
    return keep;
  }

  function renderSelection() {
    var keep = selectedRows();
    $('selection-count').textContent = keep.length + ' of ' + cmp.rows.length + ' selected';
    var cell = function (i, col) {
      var r = cmp.rows[i];
      return col === 0 ? rowLabel(r) : r.values[col - 1];
    };
    if (sortBy.col >= 0) {
      keep.sort(function (a, b) {
        var x = cell(a, sortBy.col), y = cell(b, sortBy.col);
        var o;
        if (x === null || x === undefined) o = 1;
        else if (y === null || y === undefined) o = -1;
        else if (typeof x === 'number' && typeof y === 'number') o = x - y;
        else o = String(x).localeCompare(String(y), undefined, { numeric: true });
        return sortBy.desc ? -o : o;
      });
    }
    var t = $('selection-table');
    t.textContent = '';
    var head = row(t, ['instance'].concat(cmp.axes.map(function (a) { return a.name; })), true);
    Array.prototype.forEach.call(head.children, function (th, col) {
      if (col === sortBy.col) th.setAttribute('data-order', sortBy.desc ? 'desc' : 'asc');
      th.addEventListener('click', function () {
        sortBy = { col: col, desc: sortBy.col === col ? !sortBy.desc : false };
        renderSelection();
      });
    });
    var shown = keep.slice(0, MAX_TABLE_ROWS);
    $('selection-note').textContent = shown.length < keep.length
      ? 'The first ' + shown.length + ' of ' + keep.length + ' selected rows; sort by a column to see others.'
      : '';
    shown.forEach(function (i) {
      var tr = row(t, [cell(i, 0)].concat(cmp.rows[i].values.map(function (v) { return v === null ? '' : v; })));
      for (var k = 1; k < tr.children.length; k++) {
        if (typeof cmp.rows[i].values[k - 1] === 'number') tr.children[k].className = 'num';
      }
    });
    $('selection-table').setAttribute('data-rows', keep.length);
  }

  function highlight(i) {
    $('run-select').value = String(i);
    Array.prototype.forEach.call($('runs-table').querySelectorAll('tr.clickable'), function (tr, k) {
      tr.classList.toggle('current', k === i);
    });
  }

  // ---- the whole page -----------------------------------------------------------------

  function select(i) {
    if (i === current) return;
    current = i;
    var run = data.runs[i];
    highlight(i);
    renderSummary(run);
    renderDag(run);
    renderTimeline(run);
    renderTasks(run, false);
  }

  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (k) { charts[k].resize(); });
  });

  timings.start = Math.round(performance.now());
  timed('runs', renderRuns);
  timed('summary', function () { renderSummary(data.runs[current]); });
  timed('dag', function () { renderDag(data.runs[current]); });
  timed('timeline', function () { renderTimeline(data.runs[current]); });
  renderCompare();
  timed('tasks', function () { renderTasks(data.runs[current]); });
  document.body.setAttribute('data-timings', JSON.stringify(timings));
  requestAnimationFrame(function () {
    document.body.setAttribute('data-ready', '1');
    document.body.setAttribute('data-ready-ms', String(Math.round(performance.now())));
  });
})();
