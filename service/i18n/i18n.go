// Package i18n holds the words Banli speaks to people, one catalogue per
// language: Chinese (zh-CN), the default, and English (en). A catalogue is
// a map from a stable key (an enum value's name) to its text; a test keeps
// every key in every catalogue.
package i18n

import (
	"strconv"
	"strings"
)

// Language is a language Banli speaks, as a BCP 47 tag.
type Language string

const (
	Chinese Language = "zh-CN"
	English Language = "en"
)

// Languages are the languages shipped, the default first.
var Languages = []Language{Chinese, English}

// Negotiate picks the language of an Accept-Language header (or the
// accept-language gRPC metadata): the first of its languages, by quality,
// that Banli speaks (zh, zh-CN, zh-Hans … are Chinese; en, en-GB … English),
// and Chinese when none is.
func Negotiate(acceptLanguage string) Language {
	best, bestQ := Chinese, -1.0
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		lang, ok := speaks(tag)
		if ok && q > bestQ && q > 0 {
			best, bestQ = lang, q
		}
	}
	return best
}

func speaks(tag string) (Language, bool) {
	primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
	switch primary {
	case "zh":
		return Chinese, true
	case "en":
		return English, true
	}
	return "", false
}

// Label is how lang names an enum value (by its name, e.g.
// "ASSIGNMENT_ROLE_LEAD"), or "" for a value the catalogue lacks.
func Label(lang Language, value string) string {
	if lang == English {
		return labelsEN[value]
	}
	return labelsZH[value]
}
