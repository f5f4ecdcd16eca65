"""Mock Karabo devices: which keys a source has, declared as data.

A device is a Karabo device id plus class constants describing its keys:

* ``CONTROL_KEYS`` -- slow data, written under ``CONTROL/<name>`` (one entry per train)
  and ``RUN/<name>`` (one entry, the value at run start).
* ``CHANNELS`` -- fast data, ``{channel: {group: keys}}``, written under
  ``INSTRUMENT/<name>:<channel>/<group>``.
* ``ENTRIES_PER_TRAIN`` -- ``{group: dim name}`` for groups with more than one entry per
  train (detector frames); every other group has one entry per train.
* ``DIMS`` -- default sizes of the symbolic dimensions used in key shapes.

Key shapes may name dimensions (``'ss'``, ``'fs'``, ``'frames'``, ``'cells'``...) that are
looked up in the device's ``dims``, so one declaration serves both the real detector
geometry and the tiny ``module_shape`` used by fast tests.  How values are written is the
job of :mod:`xfconvert.testing.files`; devices hold no writing code.

Examples
--------
>>> from xfconvert.testing.devices import Camera
>>> cam = Camera('SPB_IRU_CAM/CAM/SIDEMIC', shape=(64, 32))
>>> [k.name for k in cam.channels()['daqOutput']['data']]
['image.pixels', 'image.dims', 'trainId']
>>> cam.channels()['daqOutput']['data'][0].shape
(64, 32)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Mapping, Sequence, Union

from ..exceptions import OptionError

Dim = Union[int, str]

# How a key's values are made; everything but 'random' is meaningful to readers.
FILLS = (
    "random",        # reproducible pseudo-random values (see Key.offset/scale/high)
    "train_id",      # the entry's train ID
    "frame",         # index of the entry within its train (detector cellId)
    "pulse_id",      # 4 * frame index, the same for every module
    "cell_index",    # 0..n-1 along the last axis (JUNGFRAU memoryCell)
    "frame_number",  # train ID * n + 0..n-1 along the last axis (JUNGFRAU frameNumber)
    "constant",      # Key.constant, dims named by strings resolved from the device
)


@dataclass(frozen=True)
class Unit:
    """A Karabo unit, written as attributes in format 1.3 files.

    Examples
    --------
    >>> Unit('meter', 'm', 'm')  # millimetre
    Unit(name='meter', symbol='m', prefix='m')
    """

    name: str
    symbol: str
    prefix: str = ""


@dataclass(frozen=True)
class Key:
    """One key of a device: its values' dtype and per-entry shape.

    Parameters
    ----------
    name : str
        Dotted key name relative to its source (control keys) or group (instrument keys),
        e.g. ``'beamPosition.ixPos'`` or ``'data'``.
    dtype : str
        Numpy dtype of the values.
    shape : tuple
        Shape of one entry; strings name dimensions resolved by the device.
    unit : Unit, optional
        Unit written as attributes in format 1.3.
    fill : str
        One of :data:`FILLS`.
    constant : int, str or tuple, optional
        The value for ``fill='constant'``; strings name dimensions.
    offset, scale : float
        Random floats are ``offset + scale * N(0, 1)``.
    high : int, optional
        Random integers are drawn from ``[0, high)``; default ``min(dtype max + 1, 10000)``.
    chunked : bool
        Store in a chunked dataset, one entry per chunk (big per-frame data); otherwise
        the dataset is contiguous.

    Examples
    --------
    >>> Key('image.pixels', 'uint16', ('ss', 'fs'), chunked=True).resolve({'ss': 4, 'fs': 2}).shape
    (4, 2)
    """

    name: str
    dtype: str
    shape: tuple[Dim, ...] = ()
    unit: Unit | None = None
    fill: str = "random"
    constant: Dim | tuple[Dim, ...] | None = None
    offset: float = 0.0
    scale: float = 1.0
    high: int | None = None
    chunked: bool = False

    def __post_init__(self) -> None:
        if self.fill not in FILLS:
            raise ValueError(f"Unknown fill {self.fill!r} for key {self.name!r}")

    def resolve(self, dims: Mapping[str, int]) -> Key:
        """Return this key with named dimensions replaced by sizes from ``dims``.

        Examples
        --------
        >>> key = Key('pulseCount', 'uint64', fill='constant', constant='frames')
        >>> key.resolve({'frames': 3}).constant
        3
        """
        def size(d: Dim) -> int:
            return dims[d] if isinstance(d, str) else d

        constant = self.constant
        if isinstance(constant, tuple):
            constant = tuple(size(d) for d in constant)
        elif constant is not None:
            constant = size(constant)
        return dataclasses.replace(self, shape=tuple(size(d) for d in self.shape),
                                   constant=constant)


MILLIMETER = Unit("meter", "m", "m")
NANOMETER = Unit("meter", "m", "n")
MICROJOULE = Unit("joule", "J", "u")
MICROAMPERE = Unit("ampere", "A", "u")
MILLISECOND = Unit("second", "s", "m")
HERTZ = Unit("hertz", "Hz", "")
PASCAL = Unit("pascal", "Pa", "")
KELVIN = Unit("kelvin", "K", "")

TRAIN_ID = Key("trainId", "uint64", fill="train_id")


class Device:
    """A mock Karabo device; subclasses declare their keys as class constants.

    Parameters
    ----------
    name : str
        The Karabo device id, e.g. ``'SA1_XTD2_XGM/DOOCS/MAIN'``.
    **dims : int
        Overrides of the sizes in ``DIMS``.

    Examples
    --------
    >>> xgm = XGM('SA1_XTD2_XGM/DOOCS/MAIN')
    >>> xgm.instrument_sources()
    ['SA1_XTD2_XGM/DOOCS/MAIN:output']
    """

    CONTROL_KEYS: ClassVar[tuple[Key, ...]] = ()
    CHANNELS: ClassVar[Mapping[str, Mapping[str, tuple[Key, ...]]]] = {}
    ENTRIES_PER_TRAIN: ClassVar[Mapping[str, str]] = {}
    DIMS: ClassVar[Mapping[str, int]] = {}

    def __init__(self, name: str, **dims: int):
        unknown = set(dims) - set(self.DIMS)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no dimensions {sorted(unknown)}")
        self.name = name
        self.dims = {**self.DIMS, **dims}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def control_keys(self) -> tuple[Key, ...]:
        """Control keys with concrete shapes."""
        return tuple(k.resolve(self.dims) for k in self.CONTROL_KEYS)

    def channels(self) -> dict[str, dict[str, tuple[Key, ...]]]:
        """``{channel: {group: keys}}`` with concrete shapes."""
        return {ch: {grp: tuple(k.resolve(self.dims) for k in keys)
                     for grp, keys in groups.items()}
                for ch, groups in self._channel_templates().items()}

    def _channel_templates(self) -> Mapping[str, Mapping[str, tuple[Key, ...]]]:
        return self.CHANNELS

    def entries_per_train(self, group: str) -> int:
        """Number of entries each train has in ``group`` (when it has data)."""
        dim = self.ENTRIES_PER_TRAIN.get(group)
        return 1 if dim is None else self.dims[dim]

    def instrument_sources(self) -> list[str]:
        """Names of this device's instrument sources, ``'<name>:<channel>'``."""
        return [f"{self.name}:{ch}" for ch in self._channel_templates()]


class XGM(Device):
    """X-ray gas monitor: beam position and pulse energy, plus per-train pulse traces.

    Examples
    --------
    >>> [k.name for k in XGM('SA1_XTD2_XGM/DOOCS/MAIN').control_keys()][:2]
    ['beamPosition.ixPos', 'beamPosition.iyPos']
    """

    CONTROL_KEYS = (
        Key("beamPosition.ixPos", "float32", unit=MILLIMETER),
        Key("beamPosition.iyPos", "float32", unit=MILLIMETER),
        Key("pulseEnergy.photonFlux", "float32", unit=MICROJOULE, offset=1000, scale=50),
        Key("pulseEnergy.wavelengthUsed", "float32", unit=NANOMETER, offset=0.13, scale=0.001),
        Key("current.bottom.output", "float32", unit=MICROAMPERE),
        Key("pulseEnergy.numberOfBunchesActual", "int32", high=400),
    )
    CHANNELS = {"output": {"data": (
        Key("intensityTD", "float32", ("samples",), unit=MICROJOULE, offset=500, scale=100),
        Key("xTD", "float32", ("samples",), unit=MILLIMETER),
        Key("yTD", "float32", ("samples",), unit=MILLIMETER),
        TRAIN_ID,
    )}}
    DIMS = {"samples": 1000}


class Motor(Device):
    """A motor: positions in mm and a numeric state.

    Examples
    --------
    >>> Motor('SPB_XTD9_MOTORS/MOTOR/X').control_keys()[0].unit.symbol
    'm'
    """

    CONTROL_KEYS = (
        Key("actualPosition", "float32", unit=MILLIMETER, scale=10),
        Key("targetPosition", "float32", unit=MILLIMETER, scale=10),
        Key("status", "int32", high=16),
    )


class Gauge(Device):
    """A vacuum gauge.

    Examples
    --------
    >>> Gauge('SPB_XTD9_VAC/GAUGE/G1').control_keys()[0].name
    'pressure'
    """

    CONTROL_KEYS = (
        Key("pressure", "float32", unit=PASCAL, offset=1e-5, scale=1e-7),
        Key("temperature", "float32", unit=KELVIN, offset=295, scale=0.5),
        Key("status", "int32", high=16),
    )


class Camera(Device):
    """A 2D camera: acquisition settings plus one image per train.

    Parameters
    ----------
    name : str
        Karabo device id.
    shape : tuple of int
        Image shape (slow, fast scan).

    Examples
    --------
    >>> Camera('SPB_IRU_CAM/CAM/SIDEMIC').instrument_sources()
    ['SPB_IRU_CAM/CAM/SIDEMIC:daqOutput']
    """

    CONTROL_KEYS = (
        Key("exposureTime", "float64", unit=MILLISECOND, offset=10, scale=0.1),
        Key("frameRate", "float64", unit=HERTZ, offset=10, scale=0.01),
        Key("gain", "int32", high=32),
    )
    CHANNELS = {"daqOutput": {"data": (
        Key("image.pixels", "uint16", ("ss", "fs"), chunked=True, high=4096),
        Key("image.dims", "uint64", (2,), fill="constant", constant=("ss", "fs")),
        TRAIN_ID,
    )}}
    DIMS = {"ss": 256, "fs": 256}

    def __init__(self, name: str, shape: tuple[int, int] = (256, 256)):
        super().__init__(name, ss=shape[0], fs=shape[1])


class ManyKeysDevice(Device):
    """A control device with ``n_keys`` scalar keys (alternately float64 and int32).

    Used for slow-data benchmarks; keys are named ``key0000``, ``key0001``...

    Examples
    --------
    >>> [(k.name, k.dtype) for k in ManyKeysDevice('BENCH/MDL/D000', 2).control_keys()]
    [('key0000', 'float64'), ('key0001', 'int32')]
    """

    KEY_DTYPES = ("float64", "int32")

    def __init__(self, name: str, n_keys: int):
        super().__init__(name)
        self._keys = tuple(Key(f"key{i:04d}", self.KEY_DTYPES[i % len(self.KEY_DTYPES)])
                           for i in range(n_keys))

    def control_keys(self) -> tuple[Key, ...]:
        return self._keys


def _xtdf_image_keys(raw: bool, stages: int, has_gain: bool, high: int) -> tuple[Key, ...]:
    # Raw XTDF per-frame metadata carries a trailing length-1 axis; corrected data does not.
    one = (1,) if raw else ()
    if raw:
        pixels = (Key("data", "uint16", (stages, "ss", "fs"), chunked=True, high=high),)
    else:
        pixels = (Key("data", "float32", ("ss", "fs"), chunked=True, scale=100),)
        if has_gain:
            pixels += (Key("gain", "uint8", ("ss", "fs"), chunked=True, high=3),)
        pixels += (Key("mask", "uint32", ("ss", "fs"), chunked=True),)
    meta = (
        Key("cellId", "uint16", one, fill="frame"),
        Key("pulseId", "uint64", one, fill="pulse_id"),
        Key("trainId", "uint64", one, fill="train_id"),
    )
    if raw:
        meta += (Key("status", "uint16"), Key("length", "uint32", one))
    return pixels + meta


def _xtdf_channels(raw: bool, stages: int, has_gain: bool, high: int) -> dict:
    return {"xtdf": {
        "image": _xtdf_image_keys(raw, stages, has_gain, high),
        "header": (TRAIN_ID,
                   Key("pulseCount", "uint64", fill="constant", constant="frames"),
                   Key("dataId", "uint64")),
        "detector": (TRAIN_ID, Key("data", "uint8", (416,))),
        "trailer": (TRAIN_ID, Key("checksum", "uint8", (16,)), Key("status", "uint64")),
    }}


class DetectorModule(Device):
    """One module of a multi-module detector, raw or corrected.

    Subclasses declare ``RAW_CHANNELS`` and ``CORR_CHANNELS`` (one channel each); pixel
    dimensions are named ``'ss'`` (slow scan) and ``'fs'`` (fast scan) in key shapes.
    ``channel`` renames the channel, e.g. to ``'output'`` for corrected data named the
    2026 way (``<DET>/CORR/<n>CH0:output``).
    """

    RAW_CHANNELS: ClassVar[Mapping[str, Mapping[str, tuple[Key, ...]]]] = {}
    CORR_CHANNELS: ClassVar[Mapping[str, Mapping[str, tuple[Key, ...]]]] = {}

    def __init__(self, name: str, corrected: bool = False,
                 module_shape: tuple[int, int] | None = None, channel: str | None = None,
                 **dims: int):
        ss, fs = module_shape or (self.DIMS["ss"], self.DIMS["fs"])
        super().__init__(name, ss=ss, fs=fs, **dims)
        self.corrected = corrected
        self.channel = channel

    def _channel_templates(self) -> Mapping[str, Mapping[str, tuple[Key, ...]]]:
        channels = self.CORR_CHANNELS if self.corrected else self.RAW_CHANNELS
        if self.channel is None:
            return channels
        return {self.channel: groups for groups in channels.values()}


class XTDFModule(DetectorModule):
    """One module of an XTDF detector (AGIPD, LPD, DSSC).

    The ``image`` group has ``frames_per_train`` entries per train, the ``header``,
    ``detector`` and ``trailer`` groups one.

    Parameters
    ----------
    name : str
        Karabo device id without the channel, e.g. ``'SPB_DET_AGIPD1M-1/DET/0CH0'``.
    frames_per_train : int
        Entries per train in the ``image`` group.
    corrected : bool
        Write corrected (CORR) rather than raw keys.
    module_shape : tuple of int, optional
        Pixel shape (slow, fast scan) of one module; default the real geometry.

    channel : str, optional
        Channel name; default ``'xtdf'``.

    Examples
    --------
    >>> m = AGIPDModule('SPB_DET_AGIPD1M-1/DET/0CH0', frames_per_train=2, module_shape=(8, 4))
    >>> m.channels()['xtdf']['image'][0].shape
    (2, 8, 4)
    >>> m.entries_per_train('image')
    2
    >>> AGIPDModule('SPB_DET_AGIPD1M-1/CORR/0CH0', corrected=True,
    ...             channel='output').instrument_sources()
    ['SPB_DET_AGIPD1M-1/CORR/0CH0:output']
    """

    ENTRIES_PER_TRAIN = {"image": "frames"}

    def __init__(self, name: str, frames_per_train: int = 4, corrected: bool = False,
                 module_shape: tuple[int, int] | None = None, channel: str | None = None):
        super().__init__(name, corrected, module_shape, channel, frames=frames_per_train)


class AGIPDModule(XTDFModule):
    """AGIPD module: raw frames (2, 512, 128) with data and gain stages; 14-bit ADC."""

    RAW_CHANNELS = _xtdf_channels(raw=True, stages=2, has_gain=True, high=2 ** 14)
    CORR_CHANNELS = _xtdf_channels(raw=False, stages=2, has_gain=True, high=2 ** 14)
    DIMS = {"frames": 4, "ss": 512, "fs": 128}


class LPDModule(XTDFModule):
    """LPD module: raw frames (1, 256, 256); 12-bit ADC with gain in the top bits."""

    RAW_CHANNELS = _xtdf_channels(raw=True, stages=1, has_gain=True, high=2 ** 14)
    CORR_CHANNELS = _xtdf_channels(raw=False, stages=1, has_gain=True, high=2 ** 14)
    DIMS = {"frames": 4, "ss": 256, "fs": 256}


class DSSCModule(XTDFModule):
    """DSSC module: raw frames (1, 128, 512); 8-bit ADC; corrected data has no gain."""

    RAW_CHANNELS = _xtdf_channels(raw=True, stages=1, has_gain=False, high=2 ** 8)
    CORR_CHANNELS = _xtdf_channels(raw=False, stages=1, has_gain=False, high=2 ** 8)
    DIMS = {"frames": 4, "ss": 128, "fs": 512}


def _jungfrau_keys(raw: bool) -> tuple[Key, ...]:
    pixels = ("cells", "ss", "fs")
    adc = (Key("adc", "uint16", pixels, chunked=True, high=2 ** 14) if raw
           else Key("adc", "float32", pixels, chunked=True, scale=100))
    keys = (
        adc,
        Key("gain", "uint8", pixels, chunked=True, high=3),
        Key("memoryCell", "uint8", ("cells",), fill="cell_index"),
        Key("frameNumber", "uint64", ("cells",), fill="frame_number"),
        Key("timestamp", "float64", ("cells",), offset=1.7e9),
        Key("trainId", "uint64", fill="train_id"),
    )
    if not raw:
        keys += (Key("mask", "uint32", pixels, chunked=True),)
    return keys


class JUNGFRAUModule(DetectorModule):
    """JUNGFRAU module: one entry per train holding all memory cells.

    Parameters
    ----------
    name : str
        Karabo device id without the channel, e.g. ``'SPB_IRDA_JF4M/DET/JNGFR01'``.
    memory_cells : int
        Memory cells (frames) stored in each train's entry.
    corrected : bool
        Write corrected (float32 ``adc`` plus ``mask``) rather than raw keys.
    module_shape : tuple of int, optional
        Pixel shape of one module; default (512, 1024).
    channel : str, optional
        Channel name; default ``'daqOutput'``.

    Examples
    --------
    >>> m = JUNGFRAUModule('SPB_IRDA_JF4M/DET/JNGFR01', module_shape=(8, 16))
    >>> m.channels()['daqOutput']['data'][0].shape
    (16, 8, 16)
    """

    RAW_CHANNELS = {"daqOutput": {"data": _jungfrau_keys(raw=True)}}
    CORR_CHANNELS = {"daqOutput": {"data": _jungfrau_keys(raw=False)}}
    DIMS = {"cells": 16, "ss": 512, "fs": 1024}

    def __init__(self, name: str, memory_cells: int = 16, corrected: bool = False,
                 module_shape: tuple[int, int] | None = None, channel: str | None = None):
        super().__init__(name, corrected, module_shape, channel, cells=memory_cells)


# Corrected data naming: 'legacy' keeps the raw source names (float data), '2026' is
# <DET>/CORR/<module>:output.
CORRECTED_NAMINGS = ("legacy", "2026")

# How JUNGFRAU modules are labelled in source names (<DET>/DET/<label>); all occur.
JUNGFRAU_LABELS = {"JNGFR": "JNGFR{m:02}", "MODULE_": "MODULE_{m}", "RECEIVER-": "RECEIVER-{m}"}


@dataclass(frozen=True)
class DetectorSpec:
    """How a multi-module detector's modules are named and stored.

    ``device_pattern`` names raw modules (and corrected ones in the legacy naming);
    ``corr_pattern`` names corrected modules in the 2026 naming, whose channel is
    ``corr_channel``.

    Examples
    --------
    >>> spec = DETECTORS['agipd']
    >>> spec.device_name(3), spec.file_tag(3)
    ('SPB_DET_AGIPD1M-1/DET/3CH0', 'AGIPD03')
    >>> spec.device_name(3, corrected_naming='2026'), spec.channel('2026')
    ('SPB_DET_AGIPD1M-1/CORR/3CH0', 'output')
    >>> DETECTORS['jungfrau'].with_label('RECEIVER-').device_name(2)
    'SPB_IRDA_JF4M/DET/RECEIVER-2'
    """

    module_class: type
    n_modules: int
    device_pattern: str
    tag_pattern: str
    first_module: int = 0
    corr_pattern: str = ""
    corr_channel: str = "output"

    def device_name(self, module: int, corrected_naming: str = "legacy") -> str:
        """Karabo device id of module number ``module``.

        With ``corrected_naming='2026'`` the name of its corrected data since 2026.
        """
        if corrected_naming not in CORRECTED_NAMINGS:
            raise OptionError(f"corrected_naming must be one of {CORRECTED_NAMINGS}, "
                             f"not {corrected_naming!r}")
        pattern = self.corr_pattern if corrected_naming == "2026" else self.device_pattern
        return pattern.format(m=module)

    def channel(self, corrected_naming: str = "legacy") -> str | None:
        """Channel of corrected data in ``corrected_naming`` (None: the module's own)."""
        return self.corr_channel if corrected_naming == "2026" else None

    def file_tag(self, module: int) -> str:
        """The aggregator part of the module's file names."""
        return self.tag_pattern.format(m=module)

    def modules(self, n_modules: int | None = None) -> Sequence[int]:
        """Module numbers, ``n_modules`` of them (default: the full detector)."""
        n = self.n_modules if n_modules is None else n_modules
        return range(self.first_module, self.first_module + n)

    def with_label(self, label: str) -> DetectorSpec:
        """This JUNGFRAU spec with modules labelled the :data:`JUNGFRAU_LABELS` way ``label``."""
        if label not in JUNGFRAU_LABELS:
            raise OptionError(f"label must be one of {sorted(JUNGFRAU_LABELS)}, not {label!r}")
        det = self.device_pattern.split("/", 1)[0]
        fmt = JUNGFRAU_LABELS[label]
        return dataclasses.replace(self, device_pattern=f"{det}/DET/{fmt}",
                                   corr_pattern=f"{det}/CORR/{fmt}")


DETECTORS: dict[str, DetectorSpec] = {
    "agipd": DetectorSpec(AGIPDModule, 16, "SPB_DET_AGIPD1M-1/DET/{m}CH0", "AGIPD{m:02}",
                          corr_pattern="SPB_DET_AGIPD1M-1/CORR/{m}CH0"),
    "agipd500k": DetectorSpec(AGIPDModule, 8, "HED_DET_AGIPD500K2G/DET/{m}CH0", "AGIPD{m:02}",
                              corr_pattern="HED_DET_AGIPD500K2G/CORR/{m}CH0"),
    "lpd": DetectorSpec(LPDModule, 16, "FXE_DET_LPD1M-1/DET/{m}CH0", "LPD{m:02}",
                        corr_pattern="FXE_DET_LPD1M-1/CORR/{m}CH0"),
    "dssc": DetectorSpec(DSSCModule, 16, "SCS_DET_DSSC1M-1/DET/{m}CH0", "DSSC{m:02}",
                         corr_pattern="SCS_DET_DSSC1M-1/CORR/{m}CH0"),
    "jungfrau": DetectorSpec(JUNGFRAUModule, 8, "SPB_IRDA_JF4M/DET/JNGFR{m:02}", "JNGFR{m:02}",
                             first_module=1, corr_pattern="SPB_IRDA_JF4M/CORR/JNGFR{m:02}"),
}
