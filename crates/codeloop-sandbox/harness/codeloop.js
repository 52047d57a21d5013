// codeloop's trusted harness for JavaScript program tests, put in front of the solution.
//
// It reads the run's framing (a random word chosen outside the sandbox for this run) from
// `.codeloop-frame` and removes the file before the solution's code runs, and it keeps the
// functions it needs from before the solution could replace them. Each hook reports one record
// on fd 3: `<frame> v <id> <value>` (the value a call returned, in codeloop's canonical JSON
// form), `<frame> e <id> <kind> <message>` (it threw), `<frame> c <id> <0|1>` (a check's
// boolean), and `<frame> end` when the test code returned. The verdicts are decided outside.
const __codeloop = (() => {
  const fs = require('fs');
  let frame = '';
  try {
    frame = fs.readFileSync('.codeloop-frame', 'utf8').trim();
    fs.unlinkSync('.codeloop-frame');
  } catch (e) {}
  const writeSync = fs.writeSync;
  const isArray = Array.isArray;
  const ownKeys = Object.keys;
  const getProto = Object.getPrototypeOf;
  const isInteger = Number.isInteger;
  const isFinite_ = Number.isFinite;
  const jsonString = JSON.stringify;
  const SetT = Set, MapT = Map, ObjectProto = Object.prototype;
  const setValues = Set.prototype.values, mapEntries = Map.prototype.entries;
  const emit = (record) => {
    try { writeSync(3, frame + ' ' + record + '\n'); } catch (e) {}
  };
  const put = (v, depth) => {
    if (depth > 100) return '{"$opaque":"nested too deeply"}';
    if (v === null) return 'null';
    switch (typeof v) {
      case 'undefined': return '{"$undefined":true}';
      case 'boolean': return v ? 'true' : 'false';
      case 'bigint': return String(v);
      case 'number':
        if (isFinite_(v)) return isInteger(v) ? (v === 0 ? '0' : String(v).replace('e+', 'e')) : String(v).replace('e+', 'e');
        if (v !== v) return '{"$float":"nan"}';
        return v > 0 ? '{"$float":"inf"}' : '{"$float":"-inf"}';
      case 'string': return jsonString(v);
      case 'object': {
        if (isArray(v)) {
          const out = [];
          for (let i = 0; i < v.length; i++) out.push(put(v[i], depth + 1));
          return '[' + out.join(',') + ']';
        }
        if (v instanceof SetT) {
          const out = [];
          for (const x of setValues.call(v)) out.push(put(x, depth + 1));
          return '{"$set":[' + out.join(',') + ']}';
        }
        if (v instanceof MapT) {
          const out = [];
          for (const [k, x] of mapEntries.call(v)) out.push('[' + put(k, depth + 1) + ',' + put(x, depth + 1) + ']');
          return '{"$map":[' + out.join(',') + ']}';
        }
        const proto = getProto(v);
        if (proto === ObjectProto || proto === null) {
          const out = [];
          for (const k of ownKeys(v)) out.push('[' + jsonString(k) + ',' + put(v[k], depth + 1) + ']');
          return '{"$map":[' + out.join(',') + ']}';
        }
        return '{"$opaque":"object"}';
      }
      default: return '{"$opaque":' + jsonString(typeof v) + '}';
    }
  };
  const failure = (id, e) => {
    let kind = 'Error', message = '';
    try { kind = (e && e.name) ? String(e.name) : typeof e; message = (e && e.message !== undefined) ? String(e.message) : String(e); } catch (x) {}
    emit('e ' + id + ' ' + jsonString(kind) + ' ' + jsonString(message));
  };
  return Object.freeze({
    value(id, f) {
      let v;
      try { v = f(); } catch (e) { failure(id, e); return; }
      let text;
      try { text = put(v, 0); } catch (e) { text = '{"$opaque":"unreadable"}'; }
      emit('v ' + id + ' ' + text);
    },
    check(id, f) {
      try { emit('c ' + id + (f() ? ' 1' : ' 0')); } catch (e) { failure(id, e); }
    },
    end() { emit('end'); },
  });
})();
