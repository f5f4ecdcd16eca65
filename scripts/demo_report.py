"""Print what `make demo` wrote, reading each output with the tool its users use."""
import sys
from pathlib import Path

import h5py
import pandas as pd
import xarray as xr

from xfconvert import H5File, read_stack_frames


def size(path: Path) -> str:
    total = path.stat().st_size if path.is_file() else sum(
        p.stat().st_size for p in path.rglob("*") if p.is_file())
    return f"{total / 1e6:8.1f} MB"


def main(out: Path) -> None:
    subset = out / "xgm-subset.h5"
    data = H5File(subset)
    print(f"{subset} ({size(subset)}): EuXFEL file, {len(data.train_ids)} trains, "
          f"sources {sorted(data.all_sources)}")
    virtual = out / "virtual.h5"
    with h5py.File(virtual, "r") as f:
        n_virtual = []
        f.visititems(lambda name, obj: n_virtual.append(name)
                     if isinstance(obj, h5py.Dataset) and obj.is_virtual else None)
    print(f"{virtual} ({size(virtual)}): {len(n_virtual)} virtual datasets over the run")
    cxi = out / "agipd.cxi"
    with h5py.File(cxi, "r") as f:
        ds = f["entry_1/instrument_1/detector_1/data"]
        first = read_stack_frames(ds, 0, 8)
        print(f"{cxi} ({size(cxi)}): CXI stack {ds.shape} {ds.dtype}, "
              f"axes {ds.attrs['axes']}; frames 0-7 read back, mean {first.mean():.1f}")
    table = out / "slow.parquet"
    df = pd.read_parquet(table)
    print(f"{table} ({size(table)}): pandas table {df.shape[0]} trains x "
          f"{df.shape[1]} columns, e.g. {list(df.columns[:3])}")
    store = out / "run.zarr"
    det = [g for g in ("SPB_DET_AGIPD1M-1",) if (store / g).exists()]
    print(f"{store} ({size(store)}): Zarr store; groups "
          f"{sorted(p.name for p in store.iterdir() if p.is_dir())[:4]} ...")
    for group in det:
        ds = xr.open_zarr(store, group=group)
        for name, var in ds.data_vars.items():
            print(f"    xarray {group}/{name}: {dict(var.sizes)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
