/* Cases 1 and 2 with their QuickFIX anchors, in one process: our decode,
 * QuickFIX's FIX::Message::setString on the same bytes (BodyLength and
 * CheckSum validated; again with the FIX 4.4 dictionary when one is given),
 * the checksum-plus-SOH scans; our encode and QuickFIX's typed build plus
 * toString(). Interleaved round by round.
 * usage: bench_qf_codec [rounds] [iterations] [FIX44.xml]
 * Prints "RESULT <case> <round> <ns>" lines for bench/run's table. */
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <quickfix/DataDictionary.h>
#include <quickfix/Message.h>
#include <quickfix/fix44/ExecutionReport.h>

#include "codec_cases.h"

namespace
{

double qf_decode(const std::string &s, const FIX::DataDictionary *dd, long iters, uint64_t *sink)
{
	FIX::Message m;
	uint64_t acc = 0;
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++) {
		m.setString(s, true, dd);
		acc += m.totalFields();
	}
	int64_t t1 = bench_now_ns();
	*sink += acc;
	return (double)(t1 - t0) / (double)iters;
}

FIX::UtcTimeStamp er_time()
{
	/* BENCH_ER_TIME_MS as a QuickFIX timestamp */
	return FIX::UtcTimeStamp(12, 0, 0, 123, 1, 1, 2025);
}

/* Typed fields in, wire string out: what a QuickFIX application does. */
size_t qf_encode_one(const FIX::UtcTimeStamp &ts, std::string &out)
{
	FIX44::ExecutionReport er(FIX::OrderID(BENCH_ER_ORDER_ID), FIX::ExecID(BENCH_ER_EXEC_ID),
				  FIX::ExecType('F'), FIX::OrdStatus('2'), FIX::Side('1'),
				  FIX::LeavesQty(0), FIX::CumQty(BENCH_ER_QTY),
				  FIX::AvgPx(BENCH_ER_PX_D));
	FIX::Header &h = er.getHeader();
	h.setField(FIX::SenderCompID(BENCH_ER_SENDER));
	h.setField(FIX::TargetCompID(BENCH_ER_TARGET));
	h.setField(FIX::MsgSeqNum(BENCH_ER_SEQ));
	h.setField(FIX::SendingTime(ts, 3));
	er.set(FIX::ClOrdID(BENCH_ER_CLORD_ID));
	er.set(FIX::Symbol(BENCH_ER_SYMBOL));
	er.set(FIX::OrderQty(BENCH_ER_QTY));
	er.set(FIX::Price(BENCH_ER_PX_D));
	er.set(FIX::LastQty(BENCH_ER_QTY));
	er.set(FIX::LastPx(BENCH_ER_PX_D));
	er.toString(out);
	return out.size();
}

double qf_encode(long iters, uint64_t *sink)
{
	const FIX::UtcTimeStamp ts = er_time();
	std::string out;
	uint64_t acc = 0;
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++)
		acc += qf_encode_one(ts, out);
	int64_t t1 = bench_now_ns();
	*sink += acc;
	return (double)(t1 - t0) / (double)iters;
}

} // namespace

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 7;
	long iters = argc > 2 ? atol(argv[2]) : 200000;
	const char *xml = argc > 3 && argv[3][0] ? argv[3] : nullptr;
	char msg[512];
	size_t len = bench_er_encode(msg, sizeof msg);
	if (len == 0) {
		fprintf(stderr, "bench_qf_codec: cannot encode the ExecutionReport\n");
		return 1;
	}
	const std::string s(msg, len);
	std::unique_ptr<FIX::DataDictionary> dd;
	if (xml) {
		try {
			dd.reset(new FIX::DataDictionary(xml));
		} catch (const std::exception &e) {
			fprintf(stderr, "bench_qf_codec: %s: %s (dictionary case skipped)\n", xml,
				e.what());
		}
	}
	uint64_t sink = 0;
	try {
		/* both sides must accept the bytes before anything is timed */
		qf_decode(s, dd.get(), 1, &sink);
		std::string q;
		qf_encode_one(er_time(), q);
		fprintf(stderr, "bench_qf_codec: ours     %zu bytes: %s\n", len, s.c_str());
		fprintf(stderr, "bench_qf_codec: quickfix %zu bytes: %s\n", q.size(), q.c_str());
		qf_decode(s, nullptr, iters / 10 + 1, &sink);
		qf_encode(iters / 10 + 1, &sink);
		bench_decode_ours(msg, len, iters / 10 + 1, &sink);
		bench_encode_ours(iters / 10 + 1, &sink);
		for (int r = 1; r <= rounds; r++) {
			printf("RESULT decode.ours %d %.2f\n", r,
			       bench_decode_ours(msg, len, iters, &sink));
			printf("RESULT decode.qf %d %.2f\n", r,
			       qf_decode(s, nullptr, iters / 4, &sink));
			if (dd)
				printf("RESULT decode.qf_dict %d %.2f\n", r,
				       qf_decode(s, dd.get(), iters / 8, &sink));
			printf("RESULT decode.scan %d %.2f\n", r,
			       bench_scan_scalar(msg, len, iters, &sink));
			double avx = bench_scan_avx2(msg, len, iters, &sink);
			if (avx >= 0)
				printf("RESULT decode.scan_avx2 %d %.2f\n", r, avx);
			printf("RESULT encode.ours %d %.2f\n", r, bench_encode_ours(iters, &sink));
			printf("RESULT encode.qf %d %.2f\n", r, qf_encode(iters / 8, &sink));
			fflush(stdout);
		}
	} catch (const std::exception &e) {
		fprintf(stderr, "bench_qf_codec: QuickFIX: %s\n", e.what());
		return 1;
	}
	fprintf(stderr, "bench_qf_codec: sink %llu\n", (unsigned long long)sink);
	return 0;
}
