// codeloop's trusted harness for Java program tests, compiled with the solution in one file.
//
// `start` runs first in the trusted `main`, before any class of the solution is initialized: it
// reads the run's framing (a random word chosen outside the sandbox for this run) from
// `.codeloop-frame`, removes the file, keeps standard output for the records and points
// `System.out` at standard error. Each hook reports one record: `<frame> v <id> <value>` (the
// value a call returned, in codeloop's canonical JSON form), `<frame> e <id> <kind> <message>`
// (it threw), `<frame> c <id> <0|1>` (a check's boolean), and `<frame> end` when the test code
// returned. The verdicts are decided outside.
final class Codeloop {
    interface Hook { Object get() throws Throwable; }
    interface Test { boolean get() throws Throwable; }

    private static String frame = "";
    private static java.io.PrintStream records;

    static void start() {
        try {
            java.nio.file.Path p = java.nio.file.Paths.get(".codeloop-frame");
            frame = new String(java.nio.file.Files.readAllBytes(p), java.nio.charset.StandardCharsets.UTF_8).trim();
            java.nio.file.Files.delete(p);
        } catch (Throwable e) {
        }
        records = new java.io.PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, java.nio.charset.StandardCharsets.UTF_8);
        System.setOut(System.err);
    }

    private static void emit(String record) {
        records.print(frame + " " + record + "\n");
        records.flush();
    }

    static String string(String s) {
        StringBuilder o = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': o.append("\\\""); break;
                case '\\': o.append("\\\\"); break;
                case '\n': o.append("\\n"); break;
                case '\r': o.append("\\r"); break;
                case '\t': o.append("\\t"); break;
                default:
                    if (c < 0x20 || c == 0x7f || Character.isSurrogate(c) && !(Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1)) || Character.isLowSurrogate(c) && i > 0 && Character.isHighSurrogate(s.charAt(i - 1)))) {
                        o.append(String.format("\\u%04x", (int) c));
                    } else {
                        o.append(c);
                    }
            }
        }
        return o.append('"').toString();
    }

    private static String floating(double d) {
        if (Double.isNaN(d)) return "{\"$float\":\"nan\"}";
        if (Double.isInfinite(d)) return d > 0 ? "{\"$float\":\"inf\"}" : "{\"$float\":\"-inf\"}";
        return Double.toString(d);
    }

    static String put(Object v, int depth) {
        if (depth > 100) return "{\"$opaque\":\"nested too deeply\"}";
        if (v == null) return "null";
        if (v instanceof Boolean) return ((Boolean) v) ? "true" : "false";
        if (v instanceof Character) return string(String.valueOf((char) (Character) v));
        if (v instanceof Byte || v instanceof Short || v instanceof Integer || v instanceof Long || v instanceof java.math.BigInteger) return v.toString();
        if (v instanceof Float) return floating((double) (Float) v);
        if (v instanceof Double) return floating((Double) v);
        if (v instanceof java.math.BigDecimal) return ((java.math.BigDecimal) v).toString();
        if (v instanceof String) return string((String) v);
        if (v instanceof java.util.Optional) {
            java.util.Optional<?> o = (java.util.Optional<?>) v;
            return o.isPresent() ? put(o.get(), depth + 1) : "null";
        }
        StringBuilder o = new StringBuilder();
        if (v instanceof java.util.Map) {
            o.append("{\"$map\":[");
            boolean first = true;
            for (java.util.Map.Entry<?, ?> e : ((java.util.Map<?, ?>) v).entrySet()) {
                if (!first) o.append(',');
                first = false;
                o.append('[').append(put(e.getKey(), depth + 1)).append(',').append(put(e.getValue(), depth + 1)).append(']');
            }
            return o.append("]}").toString();
        }
        if (v instanceof java.util.Collection) {
            boolean set = v instanceof java.util.Set;
            o.append(set ? "{\"$set\":[" : "[");
            boolean first = true;
            for (Object x : (java.util.Collection<?>) v) {
                if (!first) o.append(',');
                first = false;
                o.append(put(x, depth + 1));
            }
            return o.append(set ? "]}" : "]").toString();
        }
        if (v.getClass().isArray()) {
            o.append('[');
            int n = java.lang.reflect.Array.getLength(v);
            for (int i = 0; i < n; i++) {
                if (i > 0) o.append(',');
                o.append(put(java.lang.reflect.Array.get(v, i), depth + 1));
            }
            return o.append(']').toString();
        }
        return "{\"$opaque\":" + string(v.getClass().getName()) + "}";
    }

    private static void failure(int id, Throwable e) {
        String message = "";
        try {
            message = String.valueOf(e.getMessage());
        } catch (Throwable x) {
        }
        emit("e " + id + " " + string(e.getClass().getName()) + " " + string(message));
    }

    // Hooks are expressions (an element of the test's list of booleans): they return true, and
    // the verdict is decided outside.
    static boolean value(int id, Hook f) {
        Object v;
        try {
            v = f.get();
        } catch (Throwable e) {
            failure(id, e);
            return true;
        }
        String text;
        try {
            text = put(v, 0);
        } catch (Throwable e) {
            text = "{\"$opaque\":\"unreadable\"}";
        }
        emit("v " + id + " " + text);
        return true;
    }

    static boolean check(int id, Test f) {
        try {
            emit("c " + id + (f.get() ? " 1" : " 0"));
        } catch (Throwable e) {
            failure(id, e);
        }
        return true;
    }

    static void end() {
        emit("end");
    }
}
