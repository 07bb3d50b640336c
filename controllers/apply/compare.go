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
	return subsetOfKeyed(want, have, nil)
}

// podTemplateListKeys are the lists in a Deployment's spec that others add
// entries to, each with the field that names an entry (its strategic merge
// key). A mutating webhook adds on every write the operator makes: a
// service mesh its sidecar, init container and volumes, a policy engine an
// env var in every container. Compared by position, the live list would
// differ from the desired one on every pass, the operator would write its
// template back, and the webhook would add the same entries again: a write
// and an Event per pass that change nothing. Matched by name, an entry the
// operator did not set is as harmless as a map key it did not set.
//
// What stays a difference: an entry of the operator's that is missing or
// changed, or that moved before another of its entries (env order matters
// to $(VAR) references, container order to which one kubectl picks). A
// webhook that rewrites a value the operator sets (an image to a mirror)
// still has it written back on every pass; the two disagree, and the
// operator keeps its spec.
var podTemplateListKeys = map[string]string{
	"containers":       "name",
	"initContainers":   "name",
	"volumes":          "name",
	"env":              "name",
	"volumeMounts":     "mountPath",
	"imagePullSecrets": "name",
}

// subsetOfKeyed is subsetOf, except that a list under a field named in
// listKeys may hold entries want does not: want's entries are found in it
// by their key, in the same order.
func subsetOfKeyed(want, have any, listKeys map[string]string) bool {
	w, err := toJSONValue(want)
	if err != nil {
		return false
	}
	h, err := toJSONValue(have)
	if err != nil {
		return false
	}
	return jsonSubset(w, h, listKeys)
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

// jsonSubset is subsetOfKeyed on decoded JSON values.
func jsonSubset(want, have any, listKeys map[string]string) bool {
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
			if mergeKey, keyed := listKeys[key]; keyed {
				if !keyedSubset(wv, hv, mergeKey, listKeys) {
					return false
				}
				continue
			}
			if !jsonSubset(wv, hv, listKeys) {
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
			if !jsonSubset(w[i], h[i], listKeys) {
				return false
			}
		}
		return true
	default:
		return want == have
	}
}

// keyedSubset reports whether the list have holds every entry of the list
// want, found by mergeKey in the same order, each a subset. Anything but
// two lists whose wanted entries all carry the key is compared as
// jsonSubset would.
func keyedSubset(want, have any, mergeKey string, listKeys map[string]string) bool {
	w, ok := want.([]any)
	h, haveList := have.([]any)
	if !ok || !haveList || !allKeyed(w, mergeKey) {
		return jsonSubset(want, have, listKeys)
	}
	next := 0
	for _, entry := range w {
		name := entry.(map[string]any)[mergeKey]
		found := -1
		for i := next; i < len(h); i++ {
			if m, ok := h[i].(map[string]any); ok && m[mergeKey] == name {
				found = i
				break
			}
		}
		if found < 0 || !jsonSubset(entry, h[found], listKeys) {
			return false
		}
		next = found + 1
	}
	return true
}

// allKeyed reports whether every entry is an object naming itself by
// mergeKey with a string or a number (values == can compare).
func allKeyed(entries []any, mergeKey string) bool {
	for _, entry := range entries {
		m, ok := entry.(map[string]any)
		if !ok {
			return false
		}
		switch m[mergeKey].(type) {
		case string, float64:
		default:
			return false
		}
	}
	return true
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
