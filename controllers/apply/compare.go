package apply

import "encoding/json"

// The operator decides whether a child needs a write by asking whether the
// live object already holds every field the desired one sets. Comparing
// whole objects would see a difference in every default the API server
// fills in and every field another controller owns, and so write on every
// pass (controller-runtime issues #2733, #3191).

// subsetOf reports whether have holds every field want sets, with the same
// value. Both are compared in their JSON form: maps may have extra keys
// (defaults the API server filled in), lists must have the same length and
// match element by element, because order carries meaning in the lists the
// operator sets (containers, ports, volumes). A value that cannot be
// marshalled counts as different: a needless write is the safe mistake.
func subsetOf(want, have any) bool {
	w, err := toJSONValue(want)
	if err != nil {
		return false
	}
	h, err := toJSONValue(have)
	if err != nil {
		return false
	}
	return jsonSubset(w, h)
}

// toJSONValue is v as the API server would store it: omitempty fields gone,
// quantities and durations in their canonical strings, structs as maps.
func toJSONValue(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// jsonSubset is subsetOf on decoded JSON values.
func jsonSubset(want, have any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return len(w) == 0 && have == nil
		}
		for key, wv := range w {
			hv, ok := h[key]
			if !ok {
				if isEmptyJSON(wv) {
					continue
				}
				return false
			}
			if !jsonSubset(wv, hv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok {
			return len(w) == 0 && have == nil
		}
		if len(h) != len(w) {
			return false
		}
		for i := range w {
			if !jsonSubset(w[i], h[i]) {
				return false
			}
		}
		return true
	default:
		return want == have
	}
}

// isEmptyJSON treats null, {} and [] as "not set": the API server drops
// such values, so their absence on the live object is no difference.
func isEmptyJSON(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}
