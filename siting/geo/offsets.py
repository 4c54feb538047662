"""GCJ-02 (Amap, Tencent) and BD-09 (Baidu) coordinates <-> WGS84, on whole arrays.

These are deliberate obfuscation offsets, not CRSs, so PROJ cannot do them. The forward
formulas are the widely published ones; the inverse is iterative (fixed-point on the forward
function) and converges below a millimetre in a few steps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

# Longitudes and latitudes, aligned.
Coords = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]

A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
EE = 0.00669342162296594323  # its eccentricity squared
X_PI = np.pi * 3000.0 / 180.0


def _delta(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> Coords:
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * np.pi
    magic = 1 - EE * np.sin(rad) ** 2
    sq = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sq) * np.pi)
    dlon = (dlon * 180.0) / (A / sq * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Coords:
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, iterations: int = 10) -> Coords:
    """Iterative inverse: find w with forward(w) = g."""
    g_lon, g_lat = np.asarray(lon, float), np.asarray(lat, float)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(iterations):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        w_lon, w_lat = w_lon - (f_lon - g_lon), w_lat - (f_lat - g_lat)
    return w_lon, w_lat


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Coords:
    x, y = np.asarray(lon, float), np.asarray(lat, float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike, iterations: int = 10) -> Coords:
    b_lon, b_lat = np.asarray(lon, float), np.asarray(lat, float)
    g_lon, g_lat = b_lon - 0.0065, b_lat - 0.006
    for _ in range(iterations):
        f_lon, f_lat = gcj02_to_bd09(g_lon, g_lat)
        g_lon, g_lat = g_lon - (f_lon - b_lon), g_lat - (f_lat - b_lat)
    return g_lon, g_lat


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Coords:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Coords:
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


TO_WGS84: dict[str, Callable[[npt.ArrayLike, npt.ArrayLike], Coords]] = {
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}


def to_wgs84_geometries(geoms: np.ndarray, offset: str) -> np.ndarray:
    """Convert shapely geometries in GCJ-02 / BD-09 lon/lat to WGS84 (all vertices at once)."""
    import shapely

    fn = TO_WGS84[offset]

    def convert(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.column_stack(fn(xy[:, 0], xy[:, 1]))

    out: np.ndarray = shapely.transform(geoms, convert)
    return out
