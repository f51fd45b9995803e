#!/usr/bin/python3
"""bench/py_pool.py - the baseline for bench/tasks.c: Python multiprocessing.Pool(2).

Run with the system python that has MySQLdb (Debian python3-mysqldb):

    /usr/bin/python3 bench/py_pool.py --cnf DIR/client.cnf [--n1 N] [--n N] [--runs R] [--starts S]
        [--start-method fork|forkserver|spawn]

Every worker opens its own MySQLdb connection in the Pool initializer (the
usual pattern dbfork replaces), so the pool is the same shape as dbfork's.

  map_cs1    Pool.map(f, range(n1), chunksize=1), tasks/s   (f(x) = x*2)
  map_def    Pool.map(f, range(n)) at the default chunksize, items/s
  start      from Pool() creation until both workers have connected (a
             Barrier(3) the initializers wait on after connecting), ms
  recycle    Pool(2, maxtasksperchild=1).map(f, range(recycle), chunksize=1)
             from Pool() creation to the last result: every task a new
             worker and connection, tasks/s

Prints "RESULT <key> <value> <unit>" lines like bench/tasks.c; median of the
runs. The start method is "fork" (the Linux default up to Python 3.13) unless
--start-method says otherwise (bench/starts.sh runs all three).
"""
import argparse
import multiprocessing as mp
import statistics
import sys
import time

import MySQLdb

_conn = None


def _init(cnf, barrier=None):
    global _conn
    _conn = MySQLdb.connect(read_default_file=cnf, read_default_group="dbfork")
    if barrier is not None:
        barrier.wait()


def f(x):
    return x * 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnf", required=True, help="option file ([client] + [dbfork] groups)")
    ap.add_argument("--n1", type=int, default=100000, help="tasks for chunksize=1")
    ap.add_argument("--n", type=int, default=2000000, help="items for the default chunksize")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--starts", type=int, default=15)
    ap.add_argument("--recycle", type=int, default=200, help="tasks for the recycle run")
    ap.add_argument("--start-method", default="fork", choices=["fork", "forkserver", "spawn"])
    ap.add_argument("what", nargs="*", default=["all"])
    a = ap.parse_args()
    want = lambda w: "all" in a.what or w in a.what
    ctx = mp.get_context(a.start_method)
    print("python %s, MySQLdb %s, start method %s"
          % (sys.version.split()[0], MySQLdb.__version__, a.start_method), file=sys.stderr)

    if want("map"):
        with ctx.Pool(2, initializer=_init, initargs=(a.cnf,)) as pool:
            pool.map(f, range(min(a.n1, 10000)), chunksize=1)  # warm-up
            v = []
            for r in range(a.runs):
                t0 = time.perf_counter()
                out = pool.map(f, range(a.n1), chunksize=1)
                t = time.perf_counter() - t0
                assert len(out) == a.n1 and out[-1] == (a.n1 - 1) * 2
                v.append(a.n1 / t)
                print("py: map chunksize=1 run %d: %.0f tasks/s" % (r + 1, v[-1]), file=sys.stderr)
            print("RESULT py_map_cs1_tasks_per_s %.0f tasks/s" % statistics.median(v))

            chunk, extra = divmod(a.n, len(pool._pool) * 4)  # what Pool.map picks
            chunk += 1 if extra else 0
            v = []
            for r in range(a.runs):
                t0 = time.perf_counter()
                out = pool.map(f, range(a.n))
                t = time.perf_counter() - t0
                assert len(out) == a.n and out[-1] == (a.n - 1) * 2
                v.append(a.n / t)
                print("py: map default chunksize (%d) run %d: %.0f items/s"
                      % (chunk, r + 1, v[-1]), file=sys.stderr)
            print("RESULT py_map_default_items_per_s %.0f items/s" % statistics.median(v))
            print("RESULT py_map_default_chunksize %d items" % chunk)
            pool.close()
            pool.join()

    if want("start"):
        v = []
        for r in range(a.starts):
            barrier = ctx.Barrier(3)
            t0 = time.perf_counter()
            pool = ctx.Pool(2, initializer=_init, initargs=(a.cnf, barrier))
            barrier.wait()
            t = time.perf_counter() - t0
            v.append(t * 1e3)
            pool.close()
            pool.join()
        v.sort()
        print("RESULT py_start_ms %.3f ms" % statistics.median(v))
        print("RESULT py_start_min_ms %.3f ms" % v[0])
        print("RESULT py_start_max_ms %.3f ms" % v[-1])

    if want("recycle"):
        v = []
        for r in range(a.runs):
            t0 = time.perf_counter()
            with ctx.Pool(2, initializer=_init, initargs=(a.cnf,), maxtasksperchild=1) as pool:
                out = pool.map(f, range(a.recycle), chunksize=1)
                t = time.perf_counter() - t0
                assert out == [x * 2 for x in range(a.recycle)]
                pool.close()
                pool.join()
            v.append(a.recycle / t)
            print("py: recycle run %d: %.1f tasks/s" % (r + 1, v[-1]), file=sys.stderr)
        print("RESULT py_recycle_tasks_per_s %.1f tasks/s" % statistics.median(v))


if __name__ == "__main__":
    main()
