// Package onboard connects exactsync to an Exact Online user: the one onboarding flow
// behind both `exactsync auth login` (a browser authorization whose code is exchanged) and
// `exactsync auth import` (a refresh token obtained elsewhere), the https callback
// listener that catches the browser's redirect, with its self-signed certificate, and the
// reading of a pasted or redirected authorization code.
//
// The flow ([Begin], then [Onboarding.Exchange] or [Onboarding.ImportRefreshToken], then
// [Onboarding.Finish]) stores the token under a pending connection whose user is not known
// yet, proves it with current/Me, and moves it to that user's connection, keeping the
// cursors of a connection that existed before. An abandoned or refused onboarding leaves no
// pending connection behind ([Onboarding.Abandon]).
//
// The package joins the Exact client (package exact) and the token rows in PostgreSQL
// (package sink), which never import each other, so it can live in neither; it sits under
// internal because it serves exactsync's own commands, not other programs. It prints
// nothing and reads no environment: the command owns the terminal, the flags and the
// wording of what it tells the user; errors here are typed where the command branches on
// them ([*exact.AuthDeniedError], [*exact.CodeError], [*StateError]).
//
// It does not list divisions, choose what to sync or keep tokens fresh: those follow the
// onboarding, in the commands and in package sync.
//
// A citation such as §3.10 in its comments names a section of docs/exact-online.md, the
// project's reference of Exact Online.
package onboard
