#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Copyright (C) 2026 The libiommufd authors
"""Turn the @@BENCH lines bench/run.sh collected into tables and a plot.

    report.py RESULTS.txt --machine MACHINE.md --out DIR [--doc docs/performance.md]
              [--expect-cells "CELL..."]

Writes DIR/report.md (the tables, also printed), DIR/bench.png and, with
--doc, the same tables inside docs/performance.md (its method section is
kept: only the part after the RESULTS marker is replaced).  Targets are
shown next to the numbers; nothing here fails on a number.  It fails
(exit 1) when a result is missing: each --expect-cells cell must have
given map+unmap, lookup and NVMe lines and a fault and dirty line (or the
line saying why not), and the host its lookup lines.
"""
import argparse
import os
import sys

MARK = '<!-- bench/run.sh writes everything below this line -->'
CELL_ORDER = ['7.3-cdev', '7.3-group', '7.3-type1', '7.3-auto', '6.12-auto', '7.3-viommu', 'host']


def parse(path):
    rows = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0] != '@@BENCH':
                continue
            rec = {}
            for p in parts[1:]:
                k, sep, v = p.partition('=')
                if sep:
                    rec[k] = v
            if 'name' in rec:
                rows.append(rec)
    return rows


# map-bench runs as several processes per cell (bench/run.sh): under TCG a
# process's address layout alone moves its library/raw ratio by a few per
# cent either way (the emulator's software TLB is direct-mapped), so one
# process is one sample.  Rows of the same measurement merge: medians of
# the processes' medians, the extremes of their extremes.
MERGED = ('mapunmap', 'translate', 'handle_iova')
MEASURES = ('lib_ns', 'raw_ns', 'ratio', 'ratio_mean', 'ns')


def merge_processes(rows):
    groups, out = {}, []
    for r in rows:
        if r.get('name') not in MERGED or 'unsupported' in r:
            out.append(r)
            continue
        key = tuple(sorted((k, v) for k, v in r.items()
                           if k not in MEASURES and not k.endswith('_min') and not k.endswith('_max')))
        if key not in groups:
            groups[key] = []
            out.append(groups[key])
        groups[key].append(r)
    merged = []
    for r in out:
        if isinstance(r, dict):
            merged.append(r)
            continue
        m = dict(r[0])
        for k in r[0]:
            vals = sorted(num(x, k) for x in r if num(x, k) is not None)
            if not vals or (k not in MEASURES and not k.endswith('_min') and not k.endswith('_max')):
                continue
            v = vals[0] if k.endswith('_min') else vals[-1] if k.endswith('_max') else \
                (vals[len(vals) // 2] if len(vals) % 2 else (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2)
            m[k] = f'{v:.0f}' if k.endswith('_ns') else f'{v:.4f}' if k.startswith('ratio') else f'{v:.1f}'
        m['procs'] = str(len(r))
        merged.append(m)
    return merged


def num(r, k, default=None):
    try:
        return float(r[k])
    except (KeyError, ValueError):
        return default


def cells_of(rows):
    seen = {r.get('cell', '?') for r in rows}
    return [c for c in CELL_ORDER if c in seen] + sorted(seen - set(CELL_ORDER))


def human(n):
    n = int(n)
    for unit, s in ((1 << 30, 'G'), (1 << 20, 'M'), (1 << 10, 'K')):
        if n >= unit and n % unit == 0:
            return f'{n // unit} {s}iB'
    return f'{n} B'


def table(head, body):
    out = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    out += ['| ' + ' | '.join(str(x) for x in row) + ' |' for row in body]
    return '\n'.join(out)


def ok(v, target, le=True):
    if v is None:
        return ''
    return 'yes' if (v <= target if le else v >= target) else '**no**'


def sections(rows):
    s = []
    by = lambda name: [r for r in rows if r['name'] == name and 'unsupported' not in r]

    mu = by('mapunmap')
    if mu:
        body = []
        for r in sorted(mu, key=lambda r: (CELL_ORDER.index(r['cell']) if r['cell'] in CELL_ORDER else 99,
                                           int(r['size']), r['form'] != 'ioas')):
            ratio = num(r, 'ratio')
            body.append([r['cell'], r['backend'], human(r['size']), r.get('mem', ''),
                         'IOVA-returning' if r['form'] == 'ioas' else 'map handle',
                         r['lib_ns'], r['raw_ns'], f"{ratio:.3f}",
                         f"{num(r, 'ratio_min'):.3f} - {num(r, 'ratio_max'):.3f}",
                         f"{num(r, 'ratio_mean'):.3f}" if 'ratio_mean' in r else '-', ok(ratio, 1.03)])
        s.append(('Map+unmap: library / raw ioctls (VM, interleaved)',
                  'Each of ' + mu[0].get('procs', '1') + ' processes per cell runs ' + mu[0]['reps'] +
                  ' repetitions of ' + mu[0]['iters'] + ' interleaved pairs '
                  '(fewer at 2 MiB and 64 MiB), each repetition the ratio of the median library pair to the '
                  'median raw pair; a process gives the median over its repetitions, the table the median '
                  'of the processes (min - max: over every repetition of every process); ns are those '
                  'medians.  "mean" is the ratio of the summed times (median '
                  'over the repetitions): it also counts the emulator\'s millisecond hiccups, which land on '
                  'either side by chance.  Target: ratio <= 1.03.',
                  table(['cell', 'backend', 'size', 'memory', 'API form', 'library ns', 'raw ns', 'ratio',
                         'min - max', 'mean', '<= 1.03'], body)))
        # iommufd vs type1: the raw kernel path of each cell, same sizes.
        sizes = sorted({int(r['size']) for r in mu})
        cs = [c for c in cells_of(mu)]
        body = []
        for sz in sizes:
            row = [human(sz)]
            for c in cs:
                m = [r for r in mu if r['cell'] == c and int(r['size']) == sz and r['form'] == 'ioas']
                row.append(f"{m[0]['raw_ns']} / {m[0]['lib_ns']}" if m else '-')
            body.append(row)
        s.append(('iommufd vs type1: map+unmap per kernel path',
                  'Raw / library ns per 4 KiB..64 MiB map+unmap pair (IOVA-returning form), per cell.  '
                  'Cells run in turn, not interleaved: compare within a row with care.',
                  table(['size'] + cs, body)))

    lk = [r for r in rows if r['name'] in ('translate', 'handle_iova') and 'unsupported' not in r]
    if lk:
        body = [[r['cell'], 'translate' if r['name'] == 'translate' else 'map handle get_iova', r['live'],
                 r['threads'], r['ns'], f"{r.get('ns_min', '')} - {r.get('ns_max', '')}", r.get('cpu_ns', '-'),
                 r.get('mops', '-'),
                 r.get('scaling', '-')]
                for r in sorted(lk, key=lambda r: (r['cell'] != 'host', r['cell'], r['name'], int(r['live']),
                                                   int(r['threads'])))]
        s.append(('IOVA lookups: translate and map handles',
                  'host: over the null kernel (no syscall in either call), T threads at once; ns is wall time '
                  'per call of one thread, CPU ns its CPU time per call (contention shows there even when a '
                  'busy machine gives the threads no core each), Mops/s all threads together, scaling '
                  'Mops(T) / Mops(1).  VM rows: one thread in the guest.',
                  table(['where', 'call', 'live maps', 'threads', 'ns/call', 'min - max', 'CPU ns/call',
                         'Mops/s', 'scaling'], body)))

    hc = by('hostcount')
    if hc:
        body = [[r['api'], r['layout'], r['live'], r['pair'], r.get('pairva', '-'), r['alloc'], r['translate'],
                 r.get('vabuild', '-'), r['bytes']] for r in hc]
        s.append(('Host counts (bench/host-count.sh, callgrind)',
                  "The library's own instructions per 4 KiB map+unmap pair, per map-handle create+destroy and "
                  'per translate, and bytes per live mapping; deterministic, gated in CI at 1e6. An IOAS '
                  'indexes its maps by VA from its first translate on: "pair" is before it, "pair+va" after, '
                  '"VA index build" that first translate per live map.',
                  table(['api', 'layout', 'live maps', 'instr/pair', 'instr/pair+va', 'instr/alloc+free',
                         'instr/translate', 'VA index build/map', 'bytes/map'], body)))
    elif any(r['name'] == 'hostcount' for r in rows):
        s.append(('Host counts', 'Not measured here (no valgrind or callgrind header).', ''))

    nv = by('nvme')
    if nv:
        body = [[r['cell'], r['backend'], r['mode'], r['bs'], r['qd'], r['iova'], r['iops'],
                 f"{r.get('iops_min', '-')} - {r.get('iops_max', '-')}", r['mibs'],
                 r['p50_us'], r['p99_us'], r['p999_us'], r['lib_ns'], f"{100 * num(r, 'lib_share', 0):.3f} %"]
                for r in nv]
        s.append(('NVMe random reads (examples/nvme --perf)',
                  'QEMU nvme behind the emulated IOMMU; ' + nv[0].get('reps', '1') + ' repetitions of each '
                  'configuration, ' + nv[0]['secs'] + ' s in all, the handle and translate runs alternating; '
                  'medians over the repetitions (IOPS with min - max).  lib ns: time inside '
                  'the library call that gives the IOVA of each I/O (map handle or translate); share: that '
                  'time over the wall time per I/O.',
                  table(['cell', 'backend', 'completion', 'bytes', 'QD', 'IOVA from', 'IOPS', 'min - max',
                         'MiB/s', 'p50 us', 'p99 us', 'p99.9 us', 'lib ns/IO', 'lib share'], body)))

    fq = by('fault')
    if fq:
        body = [[r['cell'], r['batch'], r['lib_fps'], r['raw_fps'], r['ratio'],
                 f"{r['ratio_min']} - {r['ratio_max']}", r['lib_sys_per_fault'], r['raw_sys_per_fault'],
                 r['syscall_ratio'], ok(num(r, 'syscall_ratio'), 4, le=False)] for r in fq]
        s.append(('I/O page-fault queue (mock IOMMU)',
                  'Faults read and answered per second: library (batched reads, one write per respond call) vs '
                  'raw (one record per read(2), one answer per write(2)), interleaved rounds.  Target: >= 4x '
                  'fewer syscalls per fault.',
                  table(['cell', 'faults/round', 'library faults/s', 'raw faults/s', 'time ratio', 'min - max',
                         'lib syscalls/fault', 'raw syscalls/fault', 'fewer syscalls', '>= 4x'], body)))

    dq = by('dirty')
    if dq:
        body = [[r['cell'], human(r['size']), r.get('table', '2k'), r['reps'], r['lib_ns'], r['raw_ns'], r['ratio'],
                 f"{r['ratio_min']} - {r['ratio_max']}", ok(num(r, 'ratio'), 1.03)] for r in dq]
        s.append(('Dirty bitmap read (mock IOMMU)',
                  'iommufd_hwpt_get_dirty_bitmap() vs IOMMU_HWPT_GET_DIRTY_BITMAP (after clearing the bitmap, '
                  'as a raw caller must), NO_CLEAR, 4 KiB bits, interleaved.  Mock page table "huge": 7.3\'s, '
                  'chosen with vendor data, 1 MiB leaves and no aperture limit (16 GiB); "2k": the default one, '
                  'whose aperture ends at 2 GiB.  Target: <= 1.03.',
                  table(['cell', 'IOAS', 'mock table', 'reps', 'library ns', 'raw ns', 'ratio', 'min - max',
                         '<= 1.03'], body)))

    un = [r for r in rows if 'unsupported' in r]
    if un:
        s.append(('Not measured', 'What a cell could not run, and why.',
                  table(['cell', 'bench', 'why'], [[r.get('cell', '?'), r['name'], r['unsupported']]
                                                   for r in un])))
    return s


def plot(rows, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 2, figsize=(13, 9))
    mu = [r for r in rows if r['name'] == 'mapunmap']
    a = ax[0][0]
    for c in cells_of(mu):
        for form, style in (('ioas', '-o'), ('handle', '--s')):
            pts = sorted((int(r['size']), num(r, 'ratio'), num(r, 'ratio_min'), num(r, 'ratio_max'))
                         for r in mu if r['cell'] == c and r['form'] == form)
            if pts:
                xs = [p[0] for p in pts]
                ys = [p[1] for p in pts]
                err = [[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]]
                a.errorbar(xs, ys, yerr=err, fmt=style, capsize=3, label=f'{c} {form}')
    a.axhline(1.03, color='red', lw=0.8, ls=':', label='target 1.03')
    a.set_xscale('log', base=2)
    a.set_xlabel('map size (bytes)')
    a.set_ylabel('library / raw (median, min-max)')
    a.set_title('map+unmap: library vs raw ioctls')
    a.legend(fontsize=7)

    nv = [r for r in rows if r['name'] == 'nvme' and 'unsupported' not in r]
    a = ax[0][1]
    for c in cells_of(nv):
        for mode in ('poll', 'msix'):
            pts = sorted((int(r['qd']), num(r, 'iops')) for r in nv
                         if r['cell'] == c and r['mode'] == mode and r['bs'] == '4096' and r['iova'] == 'handle')
            if pts:
                a.plot([p[0] for p in pts], [p[1] for p in pts], '-o' if mode == 'poll' else '--s',
                       label=f'{c} {mode}')
    a.set_xscale('log', base=2)
    a.set_xlabel('queue depth')
    a.set_ylabel('IOPS (4 KiB random reads)')
    a.set_title('NVMe in the VM (map handles)')
    if nv:
        a.legend(fontsize=7)

    lk = [r for r in rows if r['name'] in ('translate', 'handle_iova') and r.get('cell') == 'host']
    a = ax[1][0]
    for name in ('translate', 'handle_iova'):
        for live in sorted({int(r['live']) for r in lk}):
            pts = sorted((int(r['threads']), num(r, 'mops')) for r in lk if r['name'] == name and
                         int(r['live']) == live)
            if pts:
                a.plot([p[0] for p in pts], [p[1] for p in pts], '-o', label=f'{name} {live} live')
    a.set_xlabel('threads')
    a.set_ylabel('Mcalls/s, all threads (host)')
    a.set_yscale('log')
    a.set_title('IOVA lookups: scaling')
    if lk:
        a.legend(fontsize=7)

    a = ax[1][1]
    small = [r for r in mu if r['size'] == '4096' and r['form'] == 'ioas']
    cs = cells_of(small)
    if cs:
        x = range(len(cs))
        raw = [num(next(r for r in small if r['cell'] == c), 'raw_ns') for c in cs]
        lib = [num(next(r for r in small if r['cell'] == c), 'lib_ns') for c in cs]
        a.bar([i - 0.2 for i in x], raw, 0.4, label='raw ioctls')
        a.bar([i + 0.2 for i in x], lib, 0.4, label='library')
        a.set_xticks(list(x))
        a.set_xticklabels(cs, fontsize=8)
        a.legend(fontsize=7)
    a.set_ylabel('ns per 4 KiB map+unmap (VM)')
    a.set_title('iommufd (cdev, group) vs type1')
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def missing(rows, cells):
    """What an expected cell (or the host) did not report."""
    have = {(r.get('cell'), r['name']) for r in rows}
    want = {'host': ['translate', 'handle_iova']}
    for c in cells:
        want[c] = ['mapunmap', 'translate', 'handle_iova', 'nvme']
    out = [f'{c}: no {n} result' for c, names in want.items() for n in names if (c, n) not in have]
    for c in cells:
        if (c, 'mock') not in have and not ((c, 'fault') in have and (c, 'dirty') in have):
            out.append(f'{c}: neither fault and dirty results nor a reason why not')
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('results')
    ap.add_argument('--machine', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--doc')
    ap.add_argument('--expect-cells', default='')
    a = ap.parse_args()
    rows = merge_processes(parse(a.results))
    if not rows:
        print('report.py: no @@BENCH lines in ' + a.results, file=sys.stderr)
        return 1
    with open(a.machine, encoding='utf-8') as f:
        machine = f.read()
    text = ['## Results', '', 'Measured on:', '', machine.rstrip(), '',
            'The plot: [bench.png](bench.png) (bench/run.sh writes it next to this report).', '']
    for title, note, tab in sections(rows):
        text += ['### ' + title, '', note, '', tab, '']
    body = '\n'.join(text)
    print(body)
    with open(os.path.join(a.out, 'report.md'), 'w', encoding='utf-8') as f:
        f.write(body)
    plot(rows, os.path.join(a.out, 'bench.png'))
    if a.doc:
        head = ''
        if os.path.exists(a.doc):
            with open(a.doc, encoding='utf-8') as f:
                head = f.read().split(MARK)[0]
        if not head:
            print('report.py: ' + a.doc + ' has no method section; writing the results alone', file=sys.stderr)
        with open(a.doc, 'w', encoding='utf-8') as f:
            f.write(head.rstrip('\n') + '\n\n' + MARK + '\n\n' + body.replace('[bench.png](bench.png)', '[performance.png](performance.png)'))
        import shutil
        shutil.copy(os.path.join(a.out, 'bench.png'), os.path.join(os.path.dirname(a.doc), 'performance.png'))
    gaps = missing(rows, a.expect_cells.split())
    for g in gaps:
        print('report.py: missing: ' + g, file=sys.stderr)
    return 1 if gaps else 0


if __name__ == '__main__':
    sys.exit(main())
