// codeloop's trusted harness for Go program tests, put after the imports and before the solution.
//
// Its package variable reads the run's framing (a random word chosen outside the sandbox for
// this run) from `.codeloop-frame` and removes the file: package variables are initialized in
// the order they are declared, before any `init` of the solution. Each hook reports one record
// on fd 3: `<frame> v <id> <value>` (the value a call returned, in codeloop's canonical JSON
// form), `<frame> e <id> <kind> <message>` (it panicked), `<frame> c <id> <0|1>` (a check's
// boolean), and `<frame> end` when every test returned. The verdicts are decided outside.

var codeloopFrame = func() string {
	b, err := codeloopos.ReadFile(".codeloop-frame")
	if err != nil {
		return ""
	}
	codeloopos.Remove(".codeloop-frame")
	return codeloopstrings.TrimSpace(string(b))
}()

var codeloopRecords = codeloopos.NewFile(3, "records")

func codeloopEmit(record string) {
	codeloopRecords.Write([]byte(codeloopFrame + " " + record + "\n"))
}

func codeloopFloat(f float64) string {
	if codeloopmath.IsNaN(f) {
		return `{"$float":"nan"}`
	}
	if codeloopmath.IsInf(f, 1) {
		return `{"$float":"inf"}`
	}
	if codeloopmath.IsInf(f, -1) {
		return `{"$float":"-inf"}`
	}
	s := codeloopstrconv.FormatFloat(f, 'g', -1, 64)
	if !codeloopstrings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

func codeloopPut(v codeloopreflect.Value, depth int) string {
	if depth > 100 {
		return `{"$opaque":"nested too deeply"}`
	}
	if !v.IsValid() {
		return "null"
	}
	switch v.Kind() {
	case codeloopreflect.Bool:
		if v.Bool() {
			return "true"
		}
		return "false"
	case codeloopreflect.Int, codeloopreflect.Int8, codeloopreflect.Int16, codeloopreflect.Int32, codeloopreflect.Int64:
		return codeloopstrconv.FormatInt(v.Int(), 10)
	case codeloopreflect.Uint, codeloopreflect.Uint8, codeloopreflect.Uint16, codeloopreflect.Uint32, codeloopreflect.Uint64, codeloopreflect.Uintptr:
		return codeloopstrconv.FormatUint(v.Uint(), 10)
	case codeloopreflect.Float32:
		return codeloopFloat(float64(float32(v.Float())))
	case codeloopreflect.Float64:
		return codeloopFloat(v.Float())
	case codeloopreflect.String:
		b, _ := codeloopjson.Marshal(v.String())
		return string(b)
	case codeloopreflect.Interface, codeloopreflect.Pointer:
		if v.IsNil() {
			return "null"
		}
		return codeloopPut(v.Elem(), depth+1)
	case codeloopreflect.Slice:
		if v.IsNil() {
			return "null"
		}
		fallthrough
	case codeloopreflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = codeloopPut(v.Index(i), depth+1)
		}
		return "[" + codeloopstrings.Join(parts, ",") + "]"
	case codeloopreflect.Map:
		if v.IsNil() {
			return "null"
		}
		parts := []string{}
		it := v.MapRange()
		for it.Next() {
			parts = append(parts, "["+codeloopPut(it.Key(), depth+1)+","+codeloopPut(it.Value(), depth+1)+"]")
		}
		return `{"$map":[` + codeloopstrings.Join(parts, ",") + "]}"
	case codeloopreflect.Struct:
		parts := []string{}
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			name, _ := codeloopjson.Marshal(t.Field(i).Name)
			parts = append(parts, "["+string(name)+","+codeloopPut(v.Field(i), depth+1)+"]")
		}
		name, _ := codeloopjson.Marshal(t.Name())
		return `{"$struct":[` + string(name) + `,{"$map":[` + codeloopstrings.Join(parts, ",") + "]}]}"
	}
	name, _ := codeloopjson.Marshal(v.Type().String())
	return `{"$opaque":` + string(name) + "}"
}

func codeloopFailure(id int, r interface{}) {
	kind, _ := codeloopjson.Marshal("panic")
	message, _ := codeloopjson.Marshal(codeloopfmt.Sprint(r))
	codeloopEmit("e " + codeloopstrconv.Itoa(id) + " " + string(kind) + " " + string(message))
}

func codeloopValue(id int, f func() interface{}) {
	var v interface{}
	ok := func() (done bool) {
		defer func() {
			if r := recover(); r != nil {
				codeloopFailure(id, r)
			}
		}()
		v = f()
		return true
	}()
	if !ok {
		return
	}
	text := func() (s string) {
		defer func() {
			if recover() != nil {
				s = `{"$opaque":"unreadable"}`
			}
		}()
		return codeloopPut(codeloopreflect.ValueOf(v), 0)
	}()
	codeloopEmit("v " + codeloopstrconv.Itoa(id) + " " + text)
}

func codeloopCheck(id int, f func() bool) {
	defer func() {
		if r := recover(); r != nil {
			codeloopFailure(id, r)
		}
	}()
	if f() {
		codeloopEmit("c " + codeloopstrconv.Itoa(id) + " 1")
	} else {
		codeloopEmit("c " + codeloopstrconv.Itoa(id) + " 0")
	}
}
