// Package citetest checks the citations of docs/exact-online.md, the project's reference of
// Exact Online's behaviour.
//
// It holds no code, only a test. Comments, SQL and docs cite that page by section: "§3.10"
// anywhere in the module means section 3.10 of docs/exact-online.md, and "§" is used for
// nothing else (a section of another document is written out: "RFC 8259, section 4"). The
// test reads the page's numbered headings and fails on a citation of a section the page does
// not have, on a "§" without a section number, and on a file or package of the repository
// that the page names but that does not exist. Directories named testdata (fuzz corpora
// among them) and .git are not read.
package citetest
