"""One file per schema revision (alembic loads them by path; this file only makes the folder a
package, so it installs with the others)."""
