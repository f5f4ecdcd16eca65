"""Components reach the writers through their methods (write_frames, write_virtual_cxi)."""
import numpy as np

from xfconvert import AGIPD1M, H5File, RunDirectory
from xfconvert.testing import make_run


def test_write_frames_method(tmp_path):
    run = RunDirectory(make_run(tmp_path / "r1", detector="agipd", n_modules=2,
                                module_shape=(8, 4), n_trains=4, seed=9))
    det = AGIPD1M(run, raw=True)
    out = det.write_frames(tmp_path / "frames.h5", trains=[10000, 10002, 10002],
                           pulses=[0, 4, 8])
    written = H5File(out)
    src = "SPB_DET_AGIPD1M-1/DET/1CH0:xtdf"
    assert written[src, "image.pulseId"].ndarray().ravel().tolist() == [0, 4, 8]
    frames = run[src, "image.data"].ndarray()
    pulse = run[src, "image.pulseId"].ndarray().ravel()
    tids = run[src, "image.data"].train_id_coordinates()
    pick = ((tids == 10000) & (pulse == 0)) | ((tids == 10002) & np.isin(pulse, [4, 8]))
    np.testing.assert_array_equal(written[src, "image.data"].ndarray(), frames[pick])


def test_write_virtual_cxi_method(tmp_path):
    import h5py
    run = RunDirectory(make_run(tmp_path / "r2", detector="agipd", n_modules=3,
                                module_shape=(8, 4), n_trains=3, missing_modules=[1],
                                corrected=True, seed=4))
    det = AGIPD1M(run)
    out = det.write_virtual_cxi(tmp_path / "det.cxi", fillvalues={"data": -1.0},
                                min_modules=1)
    expected = det["image.data"].ndarray(fill_value=-1.0, module_gaps=True)
    with h5py.File(out, "r") as f:
        data = f["entry_1/instrument_1/detector_1/data"][()]
        np.testing.assert_array_equal(data, np.moveaxis(expected, 0, 1))
        assert (data[:, 1] == -1).all()   # the missing module, filled, not shifted
        assert (f["entry_1/instrument_1/detector_1/mask"][:, 1] == 0xffffffff).all()
