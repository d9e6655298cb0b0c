// Package spreadsheet writes the files offices open in Excel or WPS: CSV
// in UTF-8 with a byte-order mark, its cells guarded against formulas, and
// XLSX. The ledger export and the dashboard's download both write with it.
package spreadsheet

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Writer writes rows in one file format.
type Writer interface {
	Row(cells []string) error
	// Finish writes what is still held (for XLSX, the whole workbook) to w.
	Finish(w io.Writer) error
}

// FormulaLeaders are the first characters that make a spreadsheet read a
// CSV cell as a formula: = + - @, and TAB, CR and LF, after which some
// spreadsheets look again. A CSV cell starting with one is written with a
// leading apostrophe, which Excel shows as text; banli import removes it.
const FormulaLeaders = "=+-@\t\r\n"

type csvWriter struct{ w *csv.Writer }

// NewCSV writes CSV to w, as rows come.
func NewCSV(w io.Writer) Writer {
	w.Write([]byte("\xef\xbb\xbf")) // Excel reads UTF-8 only with a BOM
	return &csvWriter{w: csv.NewWriter(w)}
}

// Row writes cells, guarding against CSV injection (see FormulaLeaders).
func (c *csvWriter) Row(cells []string) error {
	safe := make([]string, len(cells))
	for i, cell := range cells {
		if cell != "" && strings.ContainsRune(FormulaLeaders, rune(cell[0])) {
			cell = "'" + cell
		}
		safe[i] = cell
	}
	return c.w.Write(safe)
}

func (c *csvWriter) Finish(io.Writer) error {
	c.w.Flush()
	return c.w.Error()
}

// xlsxWriter builds the workbook with excelize's stream writer, which
// keeps rows compact; the zip is written at the end.
type xlsxWriter struct {
	f    *excelize.File
	sw   *excelize.StreamWriter
	next int
}

// NewXLSX starts a workbook of one sheet, so named.
func NewXLSX(sheet string) (Writer, error) {
	f := excelize.NewFile()
	f.SetSheetName("Sheet1", sheet)
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return nil, err
	}
	return &xlsxWriter{f: f, sw: sw, next: 1}, nil
}

func (x *xlsxWriter) Row(cells []string) error {
	values := make([]any, len(cells))
	for i, c := range cells {
		// Cells are text: a value that looks like a formula stays text.
		values[i] = excelize.Cell{Value: c}
	}
	cell, _ := excelize.CoordinatesToCellName(1, x.next)
	x.next++
	return x.sw.SetRow(cell, values)
}

func (x *xlsxWriter) Finish(w io.Writer) error {
	if err := x.sw.Flush(); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := x.f.Write(&buf); err != nil {
		return fmt.Errorf("write workbook: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}
