# tests/engine.mk: the paged engine's tests (attn/paged.h), included from
# tests/local.mk.
ENGINE_TEST_SOURCES = tests/attn_paged_util.c tests/attn_paged_util.h

check_PROGRAMS += tests/attn_paged tests/attn_select
tests_attn_paged_SOURCES = tests/attn_paged.c $(ENGINE_TEST_SOURCES)
tests_attn_paged_LDADD = $(TEST_LIBS)
tests_attn_select_SOURCES = tests/attn_select.c $(ENGINE_TEST_SOURCES)
tests_attn_select_LDADD = $(TEST_LIBS)
TESTS += tests/attn_paged tests/attn_select
