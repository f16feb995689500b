"""Compare two record.py outputs: metrics equal and every tensor's hash equal (names aside).

    python benchmarks/refactor_check/compare.py before.json after.json

Tensor key names may differ between checkpoint formats (format 2 moved the graph encoder under
``graph_encoder.``), so tensors are compared as the multiset of their hashes.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    before, after = (json.load(open(p)) for p in sys.argv[1:3])
    same = True
    for run in before:
        for key, value in before[run].items():
            other = after[run].get(key)
            if key.endswith("weights"):
                equal = sorted(value["tensors"].values()) == sorted(other["tensors"].values())
                detail = f"{value['num_tensors']} tensors"
            else:
                equal = value == other
                detail = json.dumps(value)[:80]
            same &= equal
            print(f"{'identical' if equal else 'DIFFERENT'}  {run}.{key}: {detail}")
    print("bit-identical" if same else "NOT bit-identical")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
