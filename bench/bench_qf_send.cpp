/* The QuickFIX anchor of case 5: a QuickFIX initiator sends <n> copies of a
 * NewOrderSingle (send loop plus Session::sendToTarget) to a QuickFIX
 * acceptor in another process; the acceptor counts them in fromApp and
 * answers the last one with a News (35=B), which stops the clock.
 *
 *   bench_qf_send acceptor <acceptor.cfg> <n>     prints READY, runs until SIGTERM
 *   bench_qf_send initiator <initiator.cfg> <n> <round>
 *
 * The configs are written by bench/run (MemoryStore, no log, no dictionary,
 * PersistMessages=N). The initiator prints "RESULT send.qf <round> <msg/s>"
 * and "RESULT send.qf_loop <round> <msg/s>" (the send loop alone). */
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include <quickfix/Application.h>
#include <quickfix/MessageStore.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketAcceptor.h>
#include <quickfix/SocketInitiator.h>
#include <quickfix/fix44/NewOrderSingle.h>
#include <quickfix/fix44/News.h>

#include "codec_cases.h"

namespace
{

class Counter : public FIX::Application
{
      public:
	Counter(long want, bool acceptor) : want_(want), acceptor_(acceptor)
	{
	}

	void onCreate(const FIX::SessionID &) override
	{
	}
	void onLogon(const FIX::SessionID &sid) override
	{
		std::lock_guard<std::mutex> g(mu_);
		sid_ = sid;
		count_ = 0;
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
			if (++count_ == want_) {
				FIX44::News news(FIX::Headline("received all"));
				FIX::Session::sendToTarget(news, sid);
			}
			return;
		}
		FIX::MsgType t;
		m.getHeader().getField(t);
		if (t == FIX::MsgType_News) {
			std::lock_guard<std::mutex> g(mu_);
			done_ = true;
			cv_.notify_all();
		}
	}

	bool wait_logon(int seconds)
	{
		std::unique_lock<std::mutex> g(mu_);
		return cv_.wait_for(g, std::chrono::seconds(seconds),
				    [this] { return logged_on_; });
	}
	bool wait_done(int seconds)
	{
		std::unique_lock<std::mutex> g(mu_);
		return cv_.wait_for(g, std::chrono::seconds(seconds), [this] { return done_; });
	}
	FIX::SessionID session()
	{
		std::lock_guard<std::mutex> g(mu_);
		return sid_;
	}

      private:
	long want_;
	bool acceptor_;
	long count_ = 0; /* acceptor thread only */
	std::mutex mu_;
	std::condition_variable cv_;
	FIX::SessionID sid_;
	bool logged_on_ = false;
	bool done_ = false;
};

int run_acceptor(const char *cfg, long n)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, nullptr);
	FIX::SessionSettings settings(cfg);
	Counter app(n, true);
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

int run_initiator(const char *cfg, long n, int round)
{
	FIX::SessionSettings settings(cfg);
	Counter app(n, false);
	FIX::MemoryStoreFactory store;
	FIX::SocketInitiator initiator(app, store, settings);
	initiator.start();
	if (!app.wait_logon(20)) {
		fprintf(stderr, "bench_qf_send: no Logon within 20 s\n");
		initiator.stop(true);
		return 1;
	}
	const FIX::SessionID sid = app.session();
	FIX44::NewOrderSingle nos(
	    FIX::ClOrdID("ORD0000001"), FIX::Side('1'),
	    FIX::TransactTime(FIX::UtcTimeStamp(12, 0, 0, 123, 1, 1, 2025), 3), FIX::OrdType('2'));
	nos.set(FIX::HandlInst('1'));
	nos.set(FIX::Symbol("EUR/USD"));
	nos.set(FIX::OrderQty(100000));
	nos.set(FIX::Price(1.08345));
	nos.set(FIX::TimeInForce('0'));
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		if (!FIX::Session::sendToTarget(nos, sid)) {
			fprintf(stderr, "bench_qf_send: sendToTarget failed\n");
			initiator.stop(true);
			return 1;
		}
	int64_t t1 = bench_now_ns();
	if (!app.wait_done(120)) {
		fprintf(stderr, "bench_qf_send: acceptor did not confirm within 120 s\n");
		initiator.stop(true);
		return 1;
	}
	int64_t t2 = bench_now_ns();
	printf("RESULT send.qf %d %.2f\n", round, (double)n * 1e9 / (double)(t2 - t0));
	printf("RESULT send.qf_loop %d %.2f\n", round, (double)n * 1e9 / (double)(t1 - t0));
	fflush(stdout);
	initiator.stop(true);
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	try {
		if (argc == 4 && std::string(argv[1]) == "acceptor")
			return run_acceptor(argv[2], atol(argv[3]));
		if (argc == 5 && std::string(argv[1]) == "initiator")
			return run_initiator(argv[2], atol(argv[3]), atoi(argv[4]));
	} catch (const std::exception &e) {
		fprintf(stderr, "bench_qf_send: %s\n", e.what());
		return 1;
	}
	fprintf(stderr, "usage: bench_qf_send acceptor <cfg> <n>\n"
			"       bench_qf_send initiator <cfg> <n> <round>\n");
	return 2;
}
