// Converts world-atlas's countries-110m.json (TopoJSON of Natural Earth's 1:110m Admin 0
// countries, public domain) into world.svg beside this file: one <path> per country, keyed by
// its ISO 3166-1 numeric code (the `countries` table's numeric_code), projected with the
// Natural Earth I projection. Run once by hand when the shapes should change; the gateway builds
// world.svg into its binary, so neither npm nor this script is part of the build:
//
//   npm install --prefix /tmp/atlas world-atlas@2.0.2
//   node gateway/page/world-map.mjs /tmp/atlas/node_modules/world-atlas/countries-110m.json \
//     > gateway/page/world.svg
//
// Antarctica (010) is left out: it would take a quarter of the map's height for no devices.
// Rings that cross the antimeridian (Russia, Fiji) are cut there, so no stripe spans the map.
import { readFileSync } from "node:fs";

const SOURCE = "world-atlas 2.0.2, countries-110m.json (Natural Earth 1:110m, public domain)";
const LEFT_OUT = new Set(["010"]);
const WIDTH = 1000;
const DEGREE = Math.PI / 180;

const topology = JSON.parse(readFileSync(process.argv[2], "utf8"));

/** The arcs in degrees: TopoJSON stores them quantized and delta-encoded. */
const arcs = (() => {
  const [sx, sy] = topology.transform.scale;
  const [tx, ty] = topology.transform.translate;
  return topology.arcs.map((arc) => {
    let [x, y] = [0, 0];
    return arc.map(([dx, dy]) => {
      x += dx;
      y += dy;
      return [x * sx + tx, y * sy + ty];
    });
  });
})();

/** A ring from its arc indices (~i is arc i reversed); each arc starts where the last ended. */
function ring(indices) {
  const points = [];
  indices.forEach((index, k) => {
    const arc = index < 0 ? [...arcs[~index]].reverse() : arcs[index];
    points.push(...(k === 0 ? arc : arc.slice(1)));
  });
  return points;
}

/** Longitudes made continuous (a step of more than 180° is a crossing of the antimeridian). */
function unwrap(points) {
  let shift = 0;
  return points.map(([lon, lat], i) => {
    if (i > 0) {
      const step = lon + shift - (points[i - 1][0] + shift);
      if (step > 180) shift -= 360;
      if (step < -180) shift += 360;
    }
    return [lon + shift, lat];
  });
}

/** Sutherland–Hodgman against one vertical line: keeps the side where `inside` holds. */
function clip(points, edge, inside) {
  const out = [];
  points.forEach((current, i) => {
    const previous = points[(i + points.length - 1) % points.length];
    const cross = () => {
      const t = (edge - previous[0]) / (current[0] - previous[0]);
      return [edge, previous[1] + t * (current[1] - previous[1])];
    };
    if (inside(current)) {
      if (!inside(previous)) out.push(cross());
      out.push(current);
    } else if (inside(previous)) {
      out.push(cross());
    }
  });
  return out;
}

/** The ring's parts within [-180, 180]: itself, or the pieces on each side of the cut. */
function pieces(points) {
  const flat = unwrap(points);
  const lons = flat.map(([lon]) => lon);
  if (Math.min(...lons) >= -180 && Math.max(...lons) <= 180) return [points];
  return [-360, 0, 360]
    .map((shift) => flat.map(([lon, lat]) => [lon + shift, lat]))
    .map((shifted) => clip(shifted, 180, ([lon]) => lon <= 180))
    .map((shifted) => clip(shifted, -180, ([lon]) => lon >= -180))
    .filter((piece) => piece.length >= 3);
}

/** Along the cut both ends lie on the map's curved edge: points every 2° follow it. */
function densify(points) {
  const out = [];
  points.forEach((point, i) => {
    const next = points[(i + 1) % points.length];
    out.push(point);
    if (Math.abs(point[0]) === 180 && next[0] === point[0]) {
      const steps = Math.floor(Math.abs(next[1] - point[1]) / 2);
      for (let s = 1; s < steps; s++) {
        out.push([point[0], point[1] + ((next[1] - point[1]) * s) / steps]);
      }
    }
  });
  return out;
}

/** Natural Earth I (Šavrič, Jenny, Patterson, Petrovan, Hurni), as d3-geo defines it. */
function naturalEarth([lon, lat]) {
  const [lambda, phi] = [lon * DEGREE, lat * DEGREE];
  const phi2 = phi * phi;
  const phi4 = phi2 * phi2;
  return [
    lambda * (0.8707 - 0.131979 * phi2 + phi4 * (-0.013791 + phi4 * (0.003971 * phi2 - 0.001529 * phi4))),
    phi * (1.007226 + phi2 * (0.015085 + phi4 * (-0.044475 + 0.028874 * phi2 - 0.005916 * phi4))),
  ];
}

const countries = topology.objects.countries.geometries
  .filter((geometry) => !LEFT_OUT.has(geometry.id))
  .map((geometry) => {
    const polygons = geometry.type === "Polygon" ? [geometry.arcs] : geometry.arcs;
    const rings = polygons.flat().flatMap((indices) => pieces(ring(indices)));
    return { id: geometry.id, name: geometry.properties.name, rings: rings.map(densify) };
  });

// Scaled to WIDTH across the whole globe's width, cropped to the latitudes drawn.
const all = countries.flatMap((c) => c.rings.flat()).map(naturalEarth);
const xEdge = naturalEarth([180, 0])[0];
const yTop = Math.max(...all.map(([, y]) => y));
const yBottom = Math.min(...all.map(([, y]) => y));
const scale = WIDTH / (2 * xEdge);
const height = Math.ceil((yTop - yBottom) * scale);
const place = (point) => {
  const [x, y] = naturalEarth(point);
  return [Math.round((x + xEdge) * scale * 10), Math.round((yTop - y) * scale * 10)];
};

/** Relative moves in tenths of a unit, one decimal written out: small and exact enough. */
function pathData(rings) {
  const tenth = (n) => (n / 10).toString();
  return rings
    .map((points) => {
      let last = null;
      const parts = [];
      for (const [x, y] of points.map(place)) {
        if (last === null) parts.push(`M${tenth(x)} ${tenth(y)}`);
        else if (x !== last[0] || y !== last[1]) parts.push(`${tenth(x - last[0])} ${tenth(y - last[1])}`);
        last = [x, y];
      }
      // A ring that rounds to fewer than three points draws nothing.
      return parts.length < 3 ? "" : `${parts[0]}l${parts.slice(1).join(" ")}z`;
    })
    .join("");
}

const escape = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");
const outline = (() => {
  const lats = [];
  for (let lat = -90; lat <= 90; lat += 2) lats.push(lat);
  const edge = (lon, order) => order.map((lat) => place([lon, lat]));
  const points = [...edge(-180, lats), ...edge(180, [...lats].reverse())];
  return `M${points.map(([x, y]) => `${x / 10} ${y / 10}`).join("L")}z`;
})();

const lines = [
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}">`,
  `<!-- ${SOURCE}; Natural Earth I projection, Antarctica left out. Made by world-map.mjs. -->`,
  `<path class="sphere" d="${outline}"/>`,
  ...countries.map(
    (c) =>
      `<path${c.id ? ` data-id="${c.id}"` : ""} data-name="${escape(c.name)}" d="${pathData(c.rings)}"/>`,
  ),
  "</svg>",
];
process.stdout.write(`${lines.join("\n")}\n`);
