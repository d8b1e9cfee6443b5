#!/usr/bin/env python3
"""Simulate one driven, damped pendulum and describe how it moved.

    theta'' + damping * theta' + sin(theta) = amplitude * cos(frequency * t)

The pendulum starts near rest at a small angle that depends on the replica number, so the
replicas of one (amplitude, frequency) point differ only in their start. A twin started
1e-8 rad away is integrated alongside; how fast the two drift apart estimates the largest
Lyapunov exponent (positive: chaotic motion).

Writes three files: a thinned trajectory (CSV), the metrics (a JSON object of numbers) and
the run's metadata (JSON: parameters, code version, environment modules, output files).
"""

import argparse
import csv
import hashlib
import json
import math
import os
import platform
import sys

VERSION = "2.1.0"


def derivative(t, theta, omega, args):
    drive = args.amplitude * math.cos(args.frequency * t)
    return omega, drive - args.damping * omega - math.sin(theta)


def step(t, theta, omega, dt, args):
    if args.integrator == "euler":
        d_theta, d_omega = derivative(t, theta, omega, args)
        return theta + dt * d_theta, omega + dt * d_omega
    k1 = derivative(t, theta, omega, args)
    k2 = derivative(t + dt / 2, theta + dt / 2 * k1[0], omega + dt / 2 * k1[1], args)
    k3 = derivative(t + dt / 2, theta + dt / 2 * k2[0], omega + dt / 2 * k2[1], args)
    k4 = derivative(t + dt, theta + dt * k3[0], omega + dt * k3[1], args)
    theta += dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
    omega += dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return theta, omega


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--amplitude", type=float, required=True, help="drive amplitude")
    parser.add_argument("--frequency", type=float, required=True, help="drive angular frequency")
    parser.add_argument("--damping", type=float, required=True)
    parser.add_argument("--replica", type=int, required=True, help="picks the starting angle")
    parser.add_argument("--integrator", choices=["rk4", "euler"], required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--dt", type=float, required=True)
    parser.add_argument("--trajectory", required=True, help="CSV file to write")
    parser.add_argument("--metrics", required=True, help="JSON metrics file to write")
    parser.add_argument("--meta", required=True, help="JSON metadata file to write")
    args = parser.parse_args()

    d0 = 1e-8
    theta, omega = 0.1 + 0.01 * args.replica, 0.0
    twin_theta, twin_omega = theta + d0, omega
    log_growth = 0.0
    kinetic = 0.0
    max_speed = 0.0
    settle = args.steps // 2
    every = max(1, args.steps // 100)

    with open(args.trajectory, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["t", "theta", "omega"])
        for i in range(args.steps):
            t = i * args.dt
            if i % every == 0:
                writer.writerow([f"{t:.3f}", f"{theta:.6f}", f"{omega:.6f}"])
            theta, omega = step(t, theta, omega, args.dt, args)
            twin_theta, twin_omega = step(t, twin_theta, twin_omega, args.dt, args)
            # Renormalise the twin's distance every step (Benettin's method).
            d = math.hypot(twin_theta - theta, twin_omega - omega)
            if d > 0:
                if i >= settle:
                    log_growth += math.log(d / d0)
                twin_theta = theta + (twin_theta - theta) * d0 / d
                twin_omega = omega + (twin_omega - omega) * d0 / d
            if i >= settle:
                kinetic += 0.5 * omega * omega
                max_speed = max(max_speed, abs(omega))

    measured = args.steps - settle
    metrics = {
        "lyapunov": log_growth / (measured * args.dt),
        "rotations": math.trunc(theta / (2 * math.pi)),
        "mean_kinetic": kinetic / measured,
        "max_speed": max_speed,
        "final_theta": theta,
    }
    if not all(math.isfinite(v) for v in metrics.values()):
        sys.exit(f"the integration blew up: {metrics}")
    with open(args.metrics, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
        f.write("\n")

    meta = {
        "params": {
            "amplitude": args.amplitude,
            "frequency": args.frequency,
            "damping": args.damping,
            "replica": args.replica,
            "integrator": args.integrator,
            "steps": args.steps,
            "dt": args.dt,
        },
        "code": {"program": "pendulum.py", "version": VERSION, "sha256": sha256(__file__)},
        "environment": {
            "modules": [m for m in os.environ.get("LOADEDMODULES", "").split(":") if m],
            "python": platform.python_version(),
            "host": platform.node(),
        },
        "outputs": {
            os.path.basename(args.trajectory): sha256(args.trajectory),
            os.path.basename(args.metrics): sha256(args.metrics),
        },
    }
    with open(args.meta, "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
