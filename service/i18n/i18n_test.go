package i18n

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/banli/banli/gen/banli/v1" // registers the API's enums
)

// TestEveryValueHasALabel: every enum value of the API (but the
// UNSPECIFIED ones) has a label in every language, and no catalogue holds
// a label of a value that is gone.
func TestEveryValueHasALabel(t *testing.T) {
	values := map[string]bool{}
	protoregistry.GlobalTypes.RangeEnums(func(et protoreflect.EnumType) bool {
		ed := et.Descriptor()
		if ed.ParentFile().Package() != "banli.v1" {
			return true
		}
		for i := range ed.Values().Len() {
			if v := ed.Values().Get(i); v.Number() != 0 {
				values[string(v.Name())] = true
			}
		}
		return true
	})
	if len(values) < 150 {
		t.Fatalf("found only %d enum values", len(values))
	}
	for lang, catalogue := range map[Language]map[string]string{Chinese: labelsZH, English: labelsEN} {
		for v := range values {
			if catalogue[v] == "" {
				t.Errorf("%s has no label for %s", lang, v)
			}
		}
		for v := range catalogue {
			if !values[v] {
				t.Errorf("%s labels %s, which is no value of the API", lang, v)
			}
		}
	}
}

func TestNegotiate(t *testing.T) {
	for header, want := range map[string]Language{
		"": Chinese, "zh-CN": Chinese, "en": English, "en-GB,en;q=0.9": English, "fr-FR": Chinese,
		"fr;q=1, en;q=0.5, zh;q=0.8": Chinese, "zh;q=0.2, en;q=0.9": English, "en;q=0": Chinese, "zh-Hans-CN": Chinese,
	} {
		if got := Negotiate(header); got != want {
			t.Errorf("Negotiate(%q) = %s, want %s", header, got, want)
		}
	}
}

// TestEveryMessageInEveryLanguage: the message catalogues have the same
// keys, and each message takes the same arguments in every language.
func TestEveryMessageInEveryLanguage(t *testing.T) {
	for key, zh := range messagesZH {
		en, ok := messagesEN[key]
		if !ok {
			t.Errorf("English has no message %q", key)
			continue
		}
		if strings.Count(zh, "%") != strings.Count(en, "%") {
			t.Errorf("%q takes %d arguments in Chinese and %d in English", key, strings.Count(zh, "%"), strings.Count(en, "%"))
		}
	}
	for key := range messagesEN {
		if _, ok := messagesZH[key]; !ok {
			t.Errorf("Chinese has no message %q", key)
		}
	}
}
