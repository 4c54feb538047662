"""Regenerate the bundled Nanning sample layers (deterministic).

    python sample_sites/make_sample.py

Writes, the way real data comes:
- parking.gpkg       parking lots, GeoPackage in CGCS2000 3-degree Gauss-Kruger CM 108E (EPSG:4545)
- landuse.shp (+dbf/shx/prj, no .cpg)  land use with Chinese attributes in GBK, CGCS2000 (EPSG:4490)
- pois.csv           points of interest exported from Amap (高德): name, type path, type code,
                     GCJ-02 longitude/latitude, UTF-8 with BOM (a few rows typed by hand with
                     category names, as people do)
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point, Polygon, box

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from siting.geo.offsets import wgs84_to_gcj02  # noqa: E402

LON0, LAT0 = 108.32, 22.82  # Nanning, Qingxiu district
M_LON = 1 / (111_320 * np.cos(np.radians(LAT0)))  # degrees per metre
M_LAT = 1 / 110_574


def at(dx: float, dy: float) -> tuple[float, float]:
    return LON0 + dx * M_LON, LAT0 + dy * M_LAT


def rect(dx, dy, w, h) -> Polygon:
    x0, y0 = at(dx, dy)
    x1, y1 = at(dx + w, dy + h)
    return box(x0, y0, x1, y1)


# context land use: (dx, dy, w, h) in metres from the origin, attributes
LANDUSE = [
    ("自治区某厅机关大院", "A1", "行政办公用地", None, None, None, None, (0, 0, 200, 150)),
    ("万象城", "B11", "零售商业用地", None, None, None, None, (400, 0, 300, 250)),
    ("某国际酒店", "B14", "旅馆用地", None, None, None, None, (800, 0, 120, 120)),
    ("广西医科大学第一附属医院", "A51", "医院用地", None, None, None, None, (0, 400, 300, 300)),
    ("医院西区绿地", "A5", "医疗卫生用地", None, None, None, None, (-300, 400, 300, 300)),
    ("南宁东站", "S3", "交通枢纽用地", None, None, None, None, (1200, 0, 500, 300)),
    ("社会停车场", "S42", "社会停车场用地", None, None, None, None, (1200, 500, 100, 80)),
    ("高新产业园（新建）", "M1", "工业用地", None, None, None, "新建", (0, 1000, 600, 400)),
    ("老工业区", "M2", "工业用地", None, None, None, "既有", (800, 1000, 400, 400)),
    ("新建住宅小区", "R2", "二类居住用地", None, None, None, "新建", (0, 1600, 300, 300)),
    ("老旧小区", "R2", "二类居住用地", None, None, None, "既有", (400, 1600, 300, 300)),
    ("青秀山风景区", None, None, "A级旅游景区", "5A", None, None, (2000, 0, 800, 800)),
    ("某3A景区", None, None, "旅游景区", "AAA", None, None, (2000, 1000, 300, 300)),
    ("吴圩服务区", None, None, "高速公路服务区", None, "一类", "既有", (3000, 0, 200, 150)),
    ("某停车区", None, None, "高速公路服务区", None, "三类", "既有", (3000, 300, 100, 100)),
    # places the plan names without a ratio (advisory), and government below region level
    ("青秀区人民政府", "A1", "行政办公用地", None, None, None, None, (0, 2200, 150, 120)),
    ("广西大学", "A31", "高等院校用地", None, None, None, None, (300, 2200, 300, 250)),
    ("南宁市第一职业技术学校", "A32", "中等专业学校用地", None, None, None, None, (700, 2200, 150, 150)),
    ("东盟商务区写字楼", "B2", "商务用地", None, None, None, None, (1000, 2200, 100, 100)),
    ("中石化民族大道加油站", "B41", "加油加气站用地", None, None, None, None, (1200, 2200, 60, 50)),
    ("江南环卫停车场", "U22", "环卫用地", None, None, None, None, (1400, 2200, 100, 80)),
    ("南宁国际物流园", "W1", "一类物流仓储用地", None, None, None, None, (1600, 2200, 300, 200)),
    # uncertain categories: a broad commercial zone (B1 without a finer code), and a retail
    # plot next to a new residential plot, a lot straddling them half and half
    ("朝阳商业街片区", "B1", "商业用地", None, None, None, None, (0, 2600, 300, 200)),
    ("民族大道商业地块", "B11", "零售商业用地", None, None, None, None, (400, 2600, 200, 200)),
    ("新建住宅小区二期", "R2", "二类居住用地", None, None, None, "新建", (600, 2600, 150, 200)),
]
# POIs exported from Amap (GCJ-02): name, type path (类型), type code (类型编码), position
# (metres). A few are typed by hand with a category name instead of an Amap type.
POIS = [
    ("华润超市", "购物服务;超级市场;超市", "060400", (450, -145)),
    ("广西体育中心", "体育休闲服务;运动场馆;综合体育馆", "080100", (-500, -200)),
    ("地铁P+R停车场", "驻车换乘", "", (-800, 0)),
    ("某能源集团（国企）", "国有企业", "", (-800, 600)),
    ("城市综合体", "大型城市综合体", "", (-800, 1200)),
    ("南宁市第一人民医院", "医疗保健服务;综合医院;三级甲等医院", "090101", (2000, 2300)),
    ("南宁市公安局青秀分局", "政府机构及社会团体;公检法机构;公安警察", "130501", (2300, 2300)),
    ("南宁国际会展中心", "科教文化服务;会展中心;会展中心", "140300", (2600, 2300)),
    ("青秀山游客集散中心", "游客集散中心", "", (2900, 2300)),
    ("飞翔驾校", "科教文化服务;驾校;驾校", "141500", (3200, 2300)),
    ("新思维培训学校", "科教文化服务;培训机构;培训机构", "141400", (3500, 2300)),
    ("南宁某机械制造厂", "公司企业;工厂;工厂", "170300", (3800, 2300)),
]
# parking lots: name, geometry in metres, attributes
LOTS = [
    ("机关大院停车场", ("rect", 20, 20, 60, 40), {"停车位数": 100, "充电车位数": 6, "预留车位数": 4}),
    ("万象城地下车库", ("rect", 450, 50, 100, 100), {"停车位数": 1500, "充电车位数": 280, "快充车位数": 60}),
    ("酒店停车场", ("rect", 820, 20, 40, 30), {"停车位数": 60, "充电车位数": 12}),
    ("医院停车楼", ("rect", 50, 450, 80, 60), {"停车位数": 800, "充电车位数": 150, "预留车位数": 30, "快充车位数": 20}),
    # straddles the hospital (100 x 100 m) and the green belt (110 x 100 m): equal within 10 %?
    # no: 110 vs 100 is more than 1 % apart, so the larger overlap (green belt, A5) wins.
    ("医院西门停车场", ("rect", -110, 500, 210, 100), {"停车位数": 200, "充电车位数": 40}),
    ("东站停车场", ("rect", 1250, 50, 200, 100), {"停车位数": 3000, "充电车位数": 500, "快充车位数": 100}),
    ("社会停车场", ("rect", 1210, 510, 50, 50), {"停车位数": None, "充电车位数": 20}),
    ("产业园停车场", ("rect", 100, 1100, 100, 80), {"停车位数": 400, "充电车位数": 50, "快充车位数": 10}),
    ("老工业区停车场", ("rect", 850, 1100, 60, 50), {"停车位数": 300}),
    ("新建小区地库", ("rect", 50, 1650, 100, 100), {"停车位数": 500, "充电车位数": 100, "预留车位数": 400}),
    ("老旧小区停车", ("rect", 450, 1650, 50, 40), {"停车位数": 200, "充电车位数": 12}),
    ("青秀山停车场", ("rect", 2100, 100, 150, 100), {"停车位数": 600, "充电车位数": 130, "快充车位数": 30, "专用充电区域": "是"}),
    ("3A景区停车场", ("point", 2150, 1150), {"停车位数": 100, "充电车位数": 10}),
    ("服务区小车停车场", ("rect", 3020, 20, 80, 50), {"停车位数": 180, "小客车停车位": 150, "充电车位数": 30, "快充车位数": 10}),
    ("停车区", ("rect", 3010, 310, 30, 30), {"停车位数": 40}),
    ("超市停车场", ("rect", 430, -160, 50, 30), {"停车位数": 333, "充电车位数": 66, "快充车位数": 6}),
    ("体育中心停车场", ("rect", -530, -230, 50, 50), {"停车位数": 2000, "充电车位数": 420, "快充车位数": 60}),
    ("P+R停车场", ("rect", -830, -30, 50, 50), {"停车位数": 200, "充电车位数": 40, "快充车位数": 5, "park_ride": "yes"}),
    ("国企停车场", ("rect", -830, 570, 50, 50), {"停车位数": 250, "充电车位数": 10, "预留车位数": 10}),
    ("综合体停车场", ("rect", -820, 1180, 30, 30), {"停车位数": 500, "充电车位数": 100}),
    ("自填类别的停车场", ("rect", 5000, 5000, 30, 30), {"类别": "宾馆", "停车位数": 45, "充电车位数": 9}),
    ("孤立停车场", ("rect", 6000, 6000, 30, 30), {"停车位数": 80}),
    ("自相交多边形", ("bowtie", 850, 40, 30), {"停车位数": 40, "充电车位数": 8}),
    # advisory places (no ratio): 4(1) names them, encourages charging
    ("区政府停车场", ("rect", 20, 2220, 60, 40), {"停车位数": 120, "充电车位数": 6}),
    ("广西大学停车场", ("rect", 350, 2250, 100, 60), {"停车位数": 300, "充电车位数": 20}),
    ("职校停车场", ("rect", 720, 2220, 40, 40), {"停车位数": 80}),
    ("写字楼地下车库", ("rect", 1010, 2210, 60, 60), {"停车位数": 400, "充电车位数": 40}),
    ("加油站停车位", ("rect", 1210, 2210, 20, 20), {"停车位数": 10, "充电车位数": 2}),
    ("环卫车辆停车场", ("rect", 1420, 2210, 50, 40), {"停车位数": 60, "充电车位数": 5}),
    ("物流园停车场", ("rect", 1650, 2250, 80, 60), {"停车位数": 150, "充电车位数": 10}),
    ("分局停车场", ("rect", 2280, 2280, 40, 40), {"停车位数": 50, "充电车位数": 2}),
    ("会展中心停车场", ("rect", 2560, 2260, 80, 80), {"停车位数": 1000, "充电车位数": 50}),
    ("游客集散中心停车场", ("rect", 2880, 2280, 40, 40), {"停车位数": 300, "充电车位数": 30}),
    ("驾校停车场", ("rect", 3180, 2280, 40, 40), {"停车位数": 100}),
    ("培训学校停车场", ("rect", 3480, 2280, 40, 40), {"停车位数": 40}),
    ("工厂内部停车场", ("rect", 3780, 2280, 40, 40), {"停车位数": 200, "充电车位数": 10}),
    # uncertain categories: a fail on them is needs_review, saying why
    # 30 m from a hospital POI, not on it: a category by proximity
    ("医院对面停车场", ("rect", 2030, 2280, 40, 40), {"停车位数": 200, "充电车位数": 20}),
    # only inside a broad commercial zone (B1): a zone's use, not necessarily the site's
    ("商业街停车场", ("rect", 50, 2650, 60, 50), {"停车位数": 300, "充电车位数": 30}),
    # half in a retail plot (20 %), half in a new residential plot (100 %): a tie
    ("商住交界停车场", ("rect", 560, 2650, 80, 50), {"停车位数": 200, "充电车位数": 50}),
]


def lot_geometry(spec):
    kind = spec[0]
    if kind == "rect":
        return rect(*spec[1:])
    if kind == "point":
        return Point(*at(spec[1], spec[2]))
    dx, dy, s = spec[1:]
    pts = [at(dx, dy), at(dx + s, dy + s), at(dx + s, dy), at(dx, dy + s), at(dx, dy)]
    return Polygon(pts)  # a bow-tie: invalid, to be repaired


def main() -> None:
    lu = gpd.GeoDataFrame(
        {
            "名称": [r[0] for r in LANDUSE],
            "YDDM": [r[1] for r in LANDUSE],
            "YDMC": [r[2] for r in LANDUSE],
            "类别": [r[3] for r in LANDUSE],
            "景区等级": [r[4] for r in LANDUSE],
            "服务区等级": [r[5] for r in LANDUSE],
            "建设性质": [r[6] for r in LANDUSE],
        },
        geometry=[rect(*r[7]) for r in LANDUSE],
        crs="EPSG:4490",
    )
    for ext in ("shp", "shx", "dbf", "prj", "cpg"):
        (HERE / f"landuse.{ext}").unlink(missing_ok=True)
    lu.to_file(HERE / "landuse.shp", engine="pyogrio", encoding="GBK")
    (HERE / "landuse.cpg").unlink(missing_ok=True)  # as GBK files usually come: no .cpg

    lon, lat = zip(*(at(*p[3]) for p in POIS), strict=True)
    glon, glat = wgs84_to_gcj02(np.array(lon), np.array(lat))
    pd.DataFrame({"名称": [p[0] for p in POIS], "类型": [p[1] for p in POIS],
                  "类型编码": [p[2] for p in POIS],
                  "经度": np.round(glon, 6), "纬度": np.round(glat, 6)}).to_csv(
        HERE / "pois.csv", index=False, encoding="utf-8-sig")

    fields = ["类别", "停车位数", "小客车停车位", "充电车位数", "预留车位数", "快充车位数",
              "专用充电区域", "park_ride"]
    lots = gpd.GeoDataFrame(
        {"编号": [f"P{i + 1:03d}" for i in range(len(LOTS))],
         "名称": [lot[0] for lot in LOTS],
         **{f: [lot[2].get(f) for lot in LOTS] for f in fields}},
        geometry=[lot_geometry(lot[1]) for lot in LOTS], crs="EPSG:4490",
    ).to_crs("EPSG:4545")
    for f in ("停车位数", "小客车停车位", "充电车位数", "预留车位数", "快充车位数"):
        lots[f] = lots[f].astype("Int64")
    (HERE / "parking.gpkg").unlink(missing_ok=True)
    lots.to_file(HERE / "parking.gpkg", layer="parking_lots", engine="pyogrio")
    print(f"wrote {len(lots)} lots, {len(lu)} land-use polygons, {len(POIS)} POIs in {HERE}")


if __name__ == "__main__":
    main()
