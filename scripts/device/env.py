"""The device run's environment line: GPU, driver, torch, CUDA, bf16 and torch.compile support, as one JSON object."""
import json
import os
import platform
import shutil
import subprocess
import sys

import torch


def main():
    info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudaAvailable": torch.cuda.is_available(), "compile": hasattr(torch, "compile"),
            "cpus": os.cpu_count(), "machine": platform.machine(), "node": shutil.which("node")}
    try:
        import numpy
        info["numpy"] = numpy.__version__
    except ImportError:
        info["numpy"] = None
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, gpuMemoryGiB=round(p.total_memory / 2**30, 1), multiprocessors=p.multi_processor_count,
                    capability=f"{p.major}.{p.minor}", bf16=torch.cuda.is_bf16_supported())
    if shutil.which("nvidia-smi"):
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
        info["nvidiaSmi"] = q.stdout.strip() or q.stderr.strip()
    print(json.dumps(info))


if __name__ == "__main__":
    main()
