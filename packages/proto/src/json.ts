// proto3 JSON mapping for reflection types (protobuf's canonical JSON: lowerCamelCase
// names, enums by name, bytes base64, 64-bit integers as strings, Any with "@type",
// Struct/Value/ListValue as plain JSON, wrappers as their value, Duration as "1.5s").
// Used by the wire-compatibility test, debug endpoints (config_dump, syncz) and the file
// source of the xDS server.
import type protobuf from 'protobufjs';
import { lookupType } from './root.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = Record<string, unknown>;

const WRAPPERS = new Set([
  'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue',
  'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
]);
const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const TYPE_PREFIX = 'type.googleapis.com/';

export class ProtoJsonError extends Error {
  readonly code = 'PROTO_JSON';
}

function fullName(t: protobuf.ReflectionObject): string {
  return t.fullName.replace(/^\./, '');
}

/** A decoded message (or one built with `fromObject`) → proto3 JSON. */
export function toProto3Json(type: protobuf.Type, message: unknown): Json {
  const msg = message as Obj;
  const name = fullName(type);
  switch (name) {
    case 'google.protobuf.Any':
      return anyToJson(msg);
    case 'google.protobuf.Struct':
      return structToJson(msg);
    case 'google.protobuf.Value':
      return valueToJson(msg);
    case 'google.protobuf.ListValue':
      return ((msg.values as Obj[] | undefined) ?? []).map(valueToJson);
    case 'google.protobuf.Duration':
      return durationToJson(msg);
    case 'google.protobuf.Empty':
      return {};
  }
  if (WRAPPERS.has(name)) return scalarToJson(type.fields.value!, msg.value);
  const out: { [key: string]: Json } = {};
  for (const field of type.fieldsArray) {
    const v = msg[field.name];
    if (v === undefined || v === null) continue;
    const hasPresence = field.partOf !== null && field.partOf !== undefined;
    if (field.map) {
      const entries = Object.entries(v as Obj);
      if (entries.length === 0) continue;
      out[field.name] = Object.fromEntries(entries.map(([k, x]) => [k, fieldValueToJson(field, x)]));
    } else if (field.repeated) {
      const arr = v as unknown[];
      if (arr.length === 0) continue;
      out[field.name] = arr.map((x) => fieldValueToJson(field, x));
    } else {
      if (!hasPresence && !(field.resolvedType && 'fields' in field.resolvedType) && isDefault(field, v))
        continue;
      if (
        hasPresence &&
        field.partOf &&
        (msg as Obj)[field.partOf.name] !== field.name &&
        !field.partOf.name.startsWith('_')
      ) {
        continue;
      }
      out[field.name] = fieldValueToJson(field, v);
    }
  }
  return out;
}

function fieldValueToJson(field: protobuf.Field, v: unknown): Json {
  const rt = field.resolvedType;
  if (rt && 'fields' in rt) return toProto3Json(rt as protobuf.Type, v);
  if (rt && 'values' in rt) {
    const e = rt as protobuf.Enum;
    return e.valuesById[v as number] ?? (v as number);
  }
  return scalarToJson(field, v);
}

function scalarToJson(field: protobuf.Field, v: unknown): Json {
  if (field.type === 'bytes') return Buffer.from(v as Uint8Array).toString('base64');
  if (LONG_TYPES.has(field.type)) return String(v);
  if (field.type === 'double' || field.type === 'float') {
    const n = v as number;
    if (Number.isNaN(n)) return 'NaN';
    if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  }
  return v as Json;
}

function isDefault(field: protobuf.Field, v: unknown): boolean {
  if (field.type === 'bytes') return (v as Uint8Array).length === 0;
  return v === 0 || v === '' || v === false;
}

function anyToJson(msg: Obj): Json {
  const url = (msg.type_url ?? msg.typeUrl) as string;
  const inner = lookupType(typeNameOf(url));
  const decoded = inner.decode(msg.value as Uint8Array);
  const json = toProto3Json(inner, decoded);
  if (json !== null && typeof json === 'object' && !Array.isArray(json) && !isSpecialJson(inner)) {
    return { '@type': url, ...json };
  }
  return { '@type': url, value: json };
}

function isSpecialJson(t: protobuf.Type): boolean {
  const n = fullName(t);
  return (
    WRAPPERS.has(n) ||
    (n.startsWith('google.protobuf.') &&
      ['Struct', 'Value', 'ListValue', 'Duration', 'Any', 'Empty'].some((s) => n.endsWith(`.${s}`)))
  );
}

function structToJson(msg: Obj): Json {
  const fields = (msg.fields as Record<string, Obj> | undefined) ?? {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, valueToJson(v)]));
}

function valueToJson(v: Obj): Json {
  if (v.nullValue !== undefined && v.kind === 'nullValue') return null;
  if (v.kind === 'numberValue') return v.numberValue as number;
  if (v.kind === 'stringValue') return v.stringValue as string;
  if (v.kind === 'boolValue') return v.boolValue as boolean;
  if (v.kind === 'structValue') return structToJson(v.structValue as Obj);
  if (v.kind === 'listValue') return (((v.listValue as Obj).values as Obj[]) ?? []).map(valueToJson);
  // Plain objects (not decoded instances) carry no `kind`: look at what is set.
  if ('stringValue' in v) return v.stringValue as string;
  if ('numberValue' in v) return v.numberValue as number;
  if ('boolValue' in v) return v.boolValue as boolean;
  if ('structValue' in v) return structToJson(v.structValue as Obj);
  if ('listValue' in v) return (((v.listValue as Obj).values as Obj[]) ?? []).map(valueToJson);
  return null;
}

function durationToJson(msg: Obj): Json {
  const seconds = Number(msg.seconds ?? 0);
  const nanos = Number(msg.nanos ?? 0);
  if (nanos === 0) return `${seconds}s`;
  const frac = String(Math.abs(nanos)).padStart(9, '0').replace(/0+$/, '');
  return `${seconds === 0 && nanos < 0 ? '-' : ''}${seconds}.${frac}s`;
}

/** `type.googleapis.com/istio.workload.Address` → `istio.workload.Address`. */
export function typeNameOf(typeUrl: string): string {
  const i = typeUrl.lastIndexOf('/');
  return i >= 0 ? typeUrl.slice(i + 1) : typeUrl;
}

export function typeUrlOf(typeName: string): string {
  return `${TYPE_PREFIX}${typeName}`;
}

/** proto3 JSON → a message of `type` (throws ProtoJsonError naming the path on bad input). */
export function fromProto3Json(type: protobuf.Type, json: unknown, at = fullName(type)): protobuf.Message {
  return type.fromObject(jsonToObject(type, json, at));
}

function jsonToObject(type: protobuf.Type, json: unknown, at: string): Obj {
  const name = fullName(type);
  switch (name) {
    case 'google.protobuf.Any': {
      const j = asObject(json, at);
      const url = j['@type'];
      if (typeof url !== 'string') throw new ProtoJsonError(`${at}: Any without "@type"`);
      const inner = lookupType(typeNameOf(url));
      const body = isSpecialJson(inner)
        ? j.value
        : Object.fromEntries(Object.entries(j).filter(([k]) => k !== '@type'));
      return {
        type_url: url,
        value: inner.encode(fromProto3Json(inner, body, `${at}(${typeNameOf(url)})`)).finish(),
      };
    }
    case 'google.protobuf.Struct':
      return structFromJson(json, at);
    case 'google.protobuf.Value':
      return valueFromJson(json);
    case 'google.protobuf.ListValue':
      return { values: (json as unknown[]).map(valueFromJson) };
    case 'google.protobuf.Duration': {
      const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(String(json));
      if (!m) throw new ProtoJsonError(`${at}: "${json}" is not a duration like "1.5s"`);
      const nanos = m[3] ? Number(m[3].padEnd(9, '0')) : 0;
      return { seconds: Number(m[2]) * (m[1] ? -1 : 1), nanos: nanos * (m[1] ? -1 : 1) };
    }
    case 'google.protobuf.Empty':
      return {};
  }
  if (WRAPPERS.has(name)) return { value: json };
  const j = asObject(json, at);
  const out: Obj = {};
  for (const [key, value] of Object.entries(j)) {
    const field =
      type.fields[key] ?? type.fieldsArray.find((f) => f.options?.json_name === key || snake(f.name) === key);
    if (!field) continue; // unknown fields are tolerated, as protobuf's JSON parser can be told to
    const fat = `${at}.${field.name}`;
    const rt = field.resolvedType;
    const conv = (x: unknown, i?: string) =>
      rt && 'fields' in rt ? jsonToObject(rt as protobuf.Type, x, i ?? fat) : x;
    if (field.map)
      out[field.name] = Object.fromEntries(
        Object.entries(asObject(value, fat)).map(([k, x]) => [k, conv(x, `${fat}[${k}]`)]),
      );
    else if (field.repeated) {
      if (!Array.isArray(value)) throw new ProtoJsonError(`${fat}: expected a list`);
      out[field.name] = value.map((x, i) => conv(x, `${fat}[${i}]`));
    } else out[field.name] = conv(value);
  }
  return out;
}

function structFromJson(json: unknown, at: string): Obj {
  return {
    fields: Object.fromEntries(Object.entries(asObject(json, at)).map(([k, v]) => [k, valueFromJson(v)])),
  };
}

function valueFromJson(v: unknown): Obj {
  if (v === null) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(valueFromJson) } };
  return { structValue: structFromJson(v, 'Struct') };
}

function asObject(json: unknown, at: string): Obj {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ProtoJsonError(
      `${at}: expected an object, got ${Array.isArray(json) ? 'a list' : typeof json}`,
    );
  }
  return json as Obj;
}

function snake(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** A plain JSON object → google.protobuf.Struct (for node metadata and CA request metadata). */
export function structFromPlain(obj: Record<string, unknown>): Obj {
  return structFromJson(obj, 'Struct');
}

/** google.protobuf.Struct → plain JSON object. */
export function structToPlain(struct: unknown): Record<string, Json> {
  if (!struct) return {};
  return structToJson(struct as Obj) as Record<string, Json>;
}
