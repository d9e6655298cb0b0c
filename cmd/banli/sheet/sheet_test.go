package sheet

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/banli/banli/service/spreadsheet"
)

func TestListSplitsNames(t *testing.T) {
	got := List(" 李委员、张委员，王委员;赵委员\n钱委员 ")
	if strings.Join(got, "|") != "李委员|张委员|王委员|赵委员|钱委员" {
		t.Errorf("%q", got)
	}
}

func TestHeadersInEitherLanguage(t *testing.T) {
	r, err := NewCSV(strings.NewReader("Session,NUMBER, 案由 ,content,领衔代表,备注\ns,1,t,c,p,x\n"), "auto", DefaultMapping)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if err != nil || rec.Values[FieldTitle] != "t" || rec.Values[FieldProposer] != "p" || len(rec.Values) != 5 || rec.Line != 2 {
		t.Errorf("%+v %v", rec, err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last row: %v", err)
	}
}

// FuzzCSV: any bytes, in any claimed encoding, read without a panic.
func FuzzCSV(f *testing.F) {
	f.Add([]byte("届次,案号,案由,内容,提案人\ns,1,t,c,p\n"), "auto")
	f.Add([]byte("\xef\xbb\xbfsession,number,title,content,proposer\n\"a\"\"b\",1,\"\n\",c,p"), "utf-8")
	f.Add([]byte("\xbd\xec\xb4\xce,\xb0\xb8\xba\xc5\n"), "gbk")
	f.Fuzz(func(t *testing.T, data []byte, encoding string) {
		r, err := NewCSV(strings.NewReader(string(data)), encoding, DefaultMapping)
		if err != nil {
			return
		}
		for i := 0; i < 10000; i++ {
			if _, err := r.Next(); errors.Is(err, io.EOF) {
				return
			}
		}
	})
}

// FuzzJSONL: any bytes read without a panic.
func FuzzJSONL(f *testing.F) {
	f.Add([]byte(`{"session":"s","number":1,"topics":["a",2,null]}` + "\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, _ := NewJSONL(strings.NewReader(string(data)), DefaultMapping)
		for i := 0; i < 10000; i++ {
			if _, err := r.Next(); errors.Is(err, io.EOF) {
				return
			}
		}
	})
}

// FuzzXLSX: any bytes read as a workbook without a panic.
func FuzzXLSX(f *testing.F) {
	f.Add([]byte("PK\x03\x04 not really a workbook"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewXLSX(strings.NewReader(string(data)), DefaultMapping)
		if err != nil {
			return
		}
		for i := 0; i < 10000; i++ {
			if _, err := r.Next(); errors.Is(err, io.EOF) {
				return
			}
		}
	})
}

// TestFormulaLeadersAreTheExports: import removes exactly the guard that
// the export adds.
func TestFormulaLeadersAreTheExports(t *testing.T) {
	if FormulaLeaders != spreadsheet.FormulaLeaders {
		t.Errorf("import unguards %q, the export guards %q", FormulaLeaders, spreadsheet.FormulaLeaders)
	}
}
