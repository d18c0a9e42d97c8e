/* The QuickFIX anchors of cases 20 and 21: a QuickFIX acceptor that answers
 * every NewOrderSingle with an ExecutionReport (150=0, 39=0, the order's
 * values echoed, as the local exchange does), and a QuickFIX initiator that
 * cracks each report (five fields read, as the Lua bot does).
 *
 *   bench_qf_bot acceptor <acceptor.cfg>            prints READY, runs until SIGTERM
 *   bench_qf_bot bot <initiator.cfg> <n> <round>    n orders sent in a loop, until
 *       the n-th report was read: "RESULT bot.qf <round> <orders/s>"
 *   bench_qf_bot rtt <initiator.cfg> <n> <round>    one order at a time, from
 *       sendToTarget to its report read in fromApp: "RESULT rtt.qf_p50 / rtt.qf_p99
 *       <round> <us>"
 *
 * The initiator keeps a FileStore (FileStorePath in the config, messages
 * persisted), the counterpart of the Lua client's default store; the
 * acceptor a MemoryStore, like the local exchange. */
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <quickfix/Application.h>
#include <quickfix/FileStore.h>
#include <quickfix/MessageStore.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketAcceptor.h>
#include <quickfix/SocketInitiator.h>
#include <quickfix/fix44/ExecutionReport.h>
#include <quickfix/fix44/NewOrderSingle.h>

#include "codec_cases.h"

namespace
{

class Bot : public FIX::Application
{
      public:
	explicit Bot(bool acceptor) : acceptor_(acceptor)
	{
	}

	void onCreate(const FIX::SessionID &) override
	{
	}
	void onLogon(const FIX::SessionID &sid) override
	{
		std::lock_guard<std::mutex> g(mu_);
		sid_ = sid;
		logged_on_ = true;
		cv_.notify_all();
	}
	void onLogout(const FIX::SessionID &) override
	{
	}
	void toAdmin(FIX::Message &, const FIX::SessionID &) override
	{
	}
	void toApp(FIX::Message &, const FIX::SessionID &) throw(FIX::DoNotSend) override
	{
	}
	void fromAdmin(const FIX::Message &,
		       const FIX::SessionID &) throw(FIX::FieldNotFound, FIX::IncorrectDataFormat,
						     FIX::IncorrectTagValue,
						     FIX::RejectLogon) override
	{
	}
	void fromApp(const FIX::Message &m,
		     const FIX::SessionID &sid) throw(FIX::FieldNotFound, FIX::IncorrectDataFormat,
						      FIX::IncorrectTagValue,
						      FIX::UnsupportedMessageType) override
	{
		if (acceptor_) {
			answer(m, sid);
			return;
		}
		FIX::OrderID oid;
		FIX::ClOrdID cid;
		FIX::ExecID xid;
		FIX::OrdStatus st;
		FIX::ExecType et;
		m.getField(oid);
		m.getField(cid);
		m.getField(xid);
		m.getField(st);
		m.getField(et);
		std::lock_guard<std::mutex> g(mu_);
		read_ += oid.getValue().size() + cid.getValue().size() + xid.getValue().size() +
			 (st.getValue() == '0') + (et.getValue() == '0');
		count_++;
		cv_.notify_all();
	}

	bool wait_logon(int seconds)
	{
		std::unique_lock<std::mutex> g(mu_);
		return cv_.wait_for(g, std::chrono::seconds(seconds),
				    [this] { return logged_on_; });
	}
	bool wait_count(long want, int seconds)
	{
		std::unique_lock<std::mutex> g(mu_);
		return cv_.wait_for(g, std::chrono::seconds(seconds),
				    [this, want] { return count_ >= want; });
	}
	FIX::SessionID session()
	{
		std::lock_guard<std::mutex> g(mu_);
		return sid_;
	}

      private:
	void answer(const FIX::Message &m, const FIX::SessionID &sid)
	{
		FIX::ClOrdID cid;
		FIX::Symbol sym;
		FIX::Side side;
		FIX::OrderQty qty;
		FIX::OrdType type;
		FIX::Price px;
		m.getField(cid);
		m.getField(sym);
		m.getField(side);
		m.getField(qty);
		m.getField(type);
		m.getField(px);
		seq_++;
		FIX44::ExecutionReport er(FIX::OrderID("O" + std::to_string(seq_)),
					  FIX::ExecID("X" + std::to_string(seq_)),
					  FIX::ExecType('0'), FIX::OrdStatus('0'), side,
					  FIX::LeavesQty(qty.getValue()), FIX::CumQty(0),
					  FIX::AvgPx(0));
		er.set(cid);
		er.set(sym);
		er.set(qty);
		er.set(type);
		er.set(px);
		er.set(FIX::TransactTime());
		FIX::Session::sendToTarget(er, sid);
	}

	bool acceptor_;
	long seq_ = 0; /* acceptor thread only */
	std::mutex mu_;
	std::condition_variable cv_;
	FIX::SessionID sid_;
	bool logged_on_ = false;
	long count_ = 0;
	size_t read_ = 0;
};

int run_acceptor(const char *cfg)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, nullptr);
	FIX::SessionSettings settings(cfg);
	Bot app(true);
	FIX::MemoryStoreFactory store;
	FIX::SocketAcceptor acceptor(app, store, settings);
	acceptor.start();
	printf("READY\n");
	fflush(stdout);
	int sig = 0;
	sigwait(&set, &sig);
	acceptor.stop(true);
	return 0;
}

FIX44::NewOrderSingle order()
{
	FIX44::NewOrderSingle nos(
	    FIX::ClOrdID("ORD0000001"), FIX::Side('1'),
	    FIX::TransactTime(FIX::UtcTimeStamp(12, 0, 0, 123, 1, 1, 2025), 3), FIX::OrdType('2'));
	nos.set(FIX::HandlInst('1'));
	nos.set(FIX::Symbol("EUR/USD"));
	nos.set(FIX::OrderQty(100000));
	nos.set(FIX::Price(1.08345));
	nos.set(FIX::TimeInForce('0'));
	return nos;
}

int run_initiator(const char *cfg, bool rtt, long n, int round)
{
	FIX::SessionSettings settings(cfg);
	Bot app(false);
	FIX::FileStoreFactory store(settings);
	FIX::SocketInitiator initiator(app, store, settings);
	initiator.start();
	if (!app.wait_logon(20)) {
		fprintf(stderr, "bench_qf_bot: no Logon within 20 s\n");
		initiator.stop(true);
		return 1;
	}
	const FIX::SessionID sid = app.session();
	FIX44::NewOrderSingle nos = order();
	std::vector<double> us;
	if (rtt)
		us.reserve((size_t)n);
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		int64_t s0 = rtt ? bench_now_ns() : 0;
		if (!FIX::Session::sendToTarget(nos, sid)) {
			fprintf(stderr, "bench_qf_bot: sendToTarget failed\n");
			initiator.stop(true);
			return 1;
		}
		if (rtt) {
			if (!app.wait_count(i + 1, 20))
				break;
			us.push_back((double)(bench_now_ns() - s0) / 1000.0);
		}
	}
	if (!app.wait_count(n, 120)) {
		fprintf(stderr, "bench_qf_bot: not every report arrived within 120 s\n");
		initiator.stop(true);
		return 1;
	}
	int64_t t1 = bench_now_ns();
	if (rtt) {
		std::sort(us.begin(), us.end());
		printf("RESULT rtt.qf_p50 %d %.2f\n", round, us[us.size() / 2]);
		printf("RESULT rtt.qf_p99 %d %.2f\n", round, us[us.size() * 99 / 100]);
	} else {
		printf("RESULT bot.qf %d %.2f\n", round, (double)n * 1e9 / (double)(t1 - t0));
	}
	fflush(stdout);
	initiator.stop(true);
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	try {
		if (argc == 3 && std::string(argv[1]) == "acceptor")
			return run_acceptor(argv[2]);
		if (argc == 5 && (std::string(argv[1]) == "bot" || std::string(argv[1]) == "rtt"))
			return run_initiator(argv[2], std::string(argv[1]) == "rtt", atol(argv[3]),
					     atoi(argv[4]));
	} catch (const std::exception &e) {
		fprintf(stderr, "bench_qf_bot: %s\n", e.what());
		return 1;
	}
	fprintf(stderr, "usage: bench_qf_bot acceptor <cfg>\n"
			"       bench_qf_bot bot|rtt <cfg> <n> <round>\n");
	return 2;
}
