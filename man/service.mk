# man/service.mk: the attention service's client calls (mdoc); their
# functions get links to the family's page through transport.mk's hook.
dist_man_MANS += \
	man/hgca_attend.3 \
	man/hgca_kv_append.3 \
	man/hgca_model_declare.3 \
	man/hgca_seq_open.3

TRANSPORT_MAN_LINKS += \
	hgca_attend.3:hgca_attend_prep.3 \
	hgca_attend.3:hgca_attend_submit.3 \
	hgca_seq_open.3:hgca_seq_close.3 \
	hgca_seq_open.3:hgca_seq_truncate.3 \
	hgca_seq_open.3:hgca_seq_length.3
