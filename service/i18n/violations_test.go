package i18n

import "testing"

func TestViolationInChinese(t *testing.T) {
	for english, want := range map[string]string{
		"required":                         "必填",
		"at most 100 characters":           "最多100个字",
		"must be from 1 to 60":             "须在1至60之间",
		`unknown count "nope"`:             `未知的件数项"nope"`,
		"at most 100 characters (got 120)": "最多100个字（现为120个）",
		"the upload was cut short: 5 of the 9 bytes declared arrived": "上传中断：声明9字节，只收到5字节",
		"something no format says":                                    "此项有误：something no format says",
	} {
		if got := Violation(Chinese, english); got != want {
			t.Errorf("Violation(%q) = %q, want %q", english, got, want)
		}
	}
	if got := Violation(English, "required"); got != "required" {
		t.Errorf("in English: %q", got)
	}
}
