//! Vibrational density of states from molecular dynamics (filled in below).
