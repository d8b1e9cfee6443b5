"""The task program of expc's run tests.

    step.py first SRC OUT TAG       copies SRC to OUT (TAG only goes to the log)
    step.py branch SRC OUT I        writes "branch I: <first line of SRC>" to OUT
    step.py gather OUT PART...      concatenates the parts into OUT
    step.py side SRC OUT            copies SRC to OUT
    step.py argv OUT ARG...         writes the arguments it received, as JSON, to OUT
    step.py nothing OUT             exits 0 without writing OUT

Every start is logged, as "MODE NAME PID START END", to the file named by EXPC_TEST_LOG.
EXPC_TEST_SLEEP makes each task sleep that many seconds; EXPC_TEST_FAIL=I makes branch I
fail; EXPC_TEST_FLAKY=FILE makes a branch fail when FILE does not exist yet (and creates it).
"""

import json
import os
import sys
import time

start = time.time()
mode = sys.argv[1]
name = os.environ.get("EXPC_TASK", "?")
sleep = float(os.environ.get("EXPC_TEST_SLEEP", "0"))
if sleep:
    time.sleep(sleep)

flaky = os.environ.get("EXPC_TEST_FLAKY")
if flaky and mode == "branch" and not os.path.exists(flaky):
    open(flaky, "w").close()
    print("flaky: failing the first attempt", file=sys.stderr)
    sys.exit(5)

if mode == "first":
    src, out = sys.argv[2], sys.argv[3]
    with open(src) as f, open(out + ".part", "w") as g:
        g.write(f.read())
    os.rename(out + ".part", out)
elif mode == "branch":
    src, out, i = sys.argv[2], sys.argv[3], sys.argv[4]
    if os.environ.get("EXPC_TEST_FAIL") == i:
        print("branch " + i + " cannot go on", file=sys.stderr)
        sys.exit(3)
    with open(src) as f:
        first = f.readline().strip()
    with open(out, "w") as g:
        g.write("branch " + i + ": " + first + "\n")
elif mode == "gather":
    out, parts = sys.argv[2], sys.argv[3:]
    with open(out, "w") as g:
        for p in parts:
            with open(p) as f:
                g.write(f.read())
elif mode == "side":
    src, out = sys.argv[2], sys.argv[3]
    with open(src) as f, open(out, "w") as g:
        g.write(f.read())
elif mode == "argv":
    out = sys.argv[2]
    with open(out, "w", encoding="utf-8") as g:
        json.dump(sys.argv[3:], g, ensure_ascii=False)
elif mode == "nothing":
    pass
else:
    sys.exit("unknown mode " + mode)

log = os.environ.get("EXPC_TEST_LOG")
if log:
    with open(log, "a") as f:
        f.write("%s %s %d %.6f %.6f\n" % (mode, name, os.getpid(), start, time.time()))
