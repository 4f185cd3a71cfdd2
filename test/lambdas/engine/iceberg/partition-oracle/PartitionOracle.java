/*
 * An independent oracle for test/lambdas/engine/iceberg/partition-transforms.test.ts: Guava's murmur3_32_fixed (the
 * hash Iceberg Java buckets with), java.time, BigDecimal, Base64 and URLEncoder, glued together exactly as Iceberg
 * Java does (the bodies below are copied from apache/iceberg api/src/main/java/org/apache/iceberg/util/
 * {BucketUtil,DateTimeUtil,TruncateUtil,UnicodeUtil}.java and transforms/TransformUtil.java, Apache-2.0).
 *
 * Run: java -cp /usr/share/java/guava.jar PartitionOracle.java < requests
 * One request per line, `op arg...`; one answer per line, in order. Hex arguments are bytes.
 */
import com.google.common.hash.HashFunction;
import com.google.common.hash.Hashing;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeFormatterBuilder;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Locale;

public class PartitionOracle {
  private static final HashFunction MURMUR3 = Hashing.murmur3_32_fixed();
  private static final OffsetDateTime EPOCH = Instant.ofEpochSecond(0).atOffset(ZoneOffset.UTC);
  private static final LocalDate EPOCH_DAY = EPOCH.toLocalDate();
  private static final int EPOCH_YEAR = EPOCH.getYear();
  private static final long MICROS_PER_SECOND = 1_000_000L;
  private static final DateTimeFormatter FORMATTER =
      new DateTimeFormatterBuilder()
          .parseCaseInsensitive()
          .append(DateTimeFormatter.ISO_LOCAL_DATE_TIME)
          .appendOffset("+HH:MM:ss", "+00:00")
          .toFormatter(Locale.ROOT);

  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    StringBuilder out = new StringBuilder();
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isEmpty()) continue;
      String[] a = line.split(" ");
      out.append(answer(a)).append('\n');
    }
    System.out.write(out.toString().getBytes(StandardCharsets.UTF_8));
    System.out.flush();
  }

  private static byte[] hex(String s) {
    return s.equals("-") ? new byte[0] : HexFormat.of().parseHex(s);
  }

  private static String answer(String[] a) {
    switch (a[0]) {
      case "hashbytes":
        return String.valueOf(MURMUR3.hashBytes(hex(a[1])).asInt());
      case "hashlong":
        return String.valueOf(MURMUR3.hashLong(Long.parseLong(a[1])).asInt());
      case "hashstring":
        return String.valueOf(MURMUR3.hashString(new String(hex(a[1]), StandardCharsets.UTF_8), StandardCharsets.UTF_8).asInt());
      case "hashdecimal":
        return String.valueOf(MURMUR3.hashBytes(new BigDecimal(new BigInteger(a[1]), Integer.parseInt(a[2])).unscaledValue().toByteArray()).asInt());
      case "dates":
        {
          int days = Integer.parseInt(a[1]);
          return convertDays(days, ChronoUnit.YEARS) + " " + convertDays(days, ChronoUnit.MONTHS) + " " + days;
        }
      case "micros":
        {
          long micros = Long.parseLong(a[1]);
          return convertMicros(micros, ChronoUnit.YEARS)
              + " " + convertMicros(micros, ChronoUnit.MONTHS)
              + " " + convertMicros(micros, ChronoUnit.DAYS)
              + " " + convertMicros(micros, ChronoUnit.HOURS);
        }
      case "human":
        {
          int v = Integer.parseInt(a[1]);
          return humanYear(v) + " " + humanMonth(v) + " " + humanDay(v) + " " + humanHour(v);
        }
      case "timestamp":
        {
          long micros = Long.parseLong(a[1]);
          java.time.LocalDateTime t = ChronoUnit.MICROS.addTo(EPOCH, micros).toLocalDateTime();
          return t.format(DateTimeFormatter.ISO_LOCAL_DATE_TIME) + " " + t.atOffset(ZoneOffset.UTC).format(FORMATTER);
        }
      case "decimal":
        return new BigDecimal(new BigInteger(a[1]), Integer.parseInt(a[2])).toString();
      case "truncdecimal":
        {
          BigDecimal value = new BigDecimal(new BigInteger(a[1]), Integer.parseInt(a[2]));
          BigInteger unscaledWidth = BigInteger.valueOf(Integer.parseInt(a[3]));
          BigDecimal remainder =
              new BigDecimal(value.unscaledValue().remainder(unscaledWidth).add(unscaledWidth).remainder(unscaledWidth), value.scale());
          return value.subtract(remainder).unscaledValue().toString();
        }
      case "truncint":
        {
          int width = Integer.parseInt(a[1]);
          int value = Integer.parseInt(a[2]);
          return String.valueOf(value - (((value % width) + width) % width));
        }
      case "trunclong":
        {
          int width = Integer.parseInt(a[1]);
          long value = Long.parseLong(a[2]);
          return String.valueOf(value - (((value % width) + width) % width));
        }
      case "truncstring":
        {
          int length = Integer.parseInt(a[1]);
          String input = new String(hex(a[2]), StandardCharsets.UTF_8);
          StringBuilder sb = new StringBuilder(input);
          String result =
              length >= sb.codePointCount(0, sb.length()) ? input : input.subSequence(0, sb.offsetByCodePoints(0, length)).toString();
          byte[] bytes = result.getBytes(StandardCharsets.UTF_8);
          return bytes.length == 0 ? "-" : HexFormat.of().formatHex(bytes);
        }
      case "url":
        return URLEncoder.encode(new String(hex(a[1]), StandardCharsets.UTF_8), StandardCharsets.UTF_8);
      case "base64":
        return Base64.getEncoder().encodeToString(hex(a[1]));
      default:
        throw new IllegalArgumentException("unknown request " + a[0]);
    }
  }

  private static int convertDays(int days, ChronoUnit granularity) {
    if (days >= 0) {
      LocalDate date = EPOCH_DAY.plusDays(days);
      return (int) granularity.between(EPOCH_DAY, date);
    } else {
      LocalDate date = EPOCH_DAY.plusDays(days + 1);
      return (int) granularity.between(EPOCH_DAY, date) - 1;
    }
  }

  private static int convertMicros(long micros, ChronoUnit granularity) {
    if (micros >= 0) {
      long epochSecond = Math.floorDiv(micros, MICROS_PER_SECOND);
      long nanoAdjustment = Math.floorMod(micros, MICROS_PER_SECOND) * 1000;
      return (int) granularity.between(EPOCH, Instant.ofEpochSecond(epochSecond, nanoAdjustment).atOffset(ZoneOffset.UTC));
    } else {
      long epochSecond = Math.floorDiv(micros, MICROS_PER_SECOND);
      long nanoAdjustment = Math.floorMod(micros + 1, MICROS_PER_SECOND) * 1000;
      return (int) granularity.between(EPOCH, Instant.ofEpochSecond(epochSecond, nanoAdjustment).atOffset(ZoneOffset.UTC)) - 1;
    }
  }

  private static String humanYear(int yearOrdinal) {
    return String.format(Locale.ROOT, "%04d", EPOCH_YEAR + yearOrdinal);
  }

  private static String humanMonth(int monthOrdinal) {
    return String.format(Locale.ROOT, "%04d-%02d", EPOCH_YEAR + Math.floorDiv(monthOrdinal, 12), 1 + Math.floorMod(monthOrdinal, 12));
  }

  private static String humanDay(int dayOrdinal) {
    OffsetDateTime day = EPOCH.plusDays(dayOrdinal);
    return String.format(Locale.ROOT, "%04d-%02d-%02d", day.getYear(), day.getMonth().getValue(), day.getDayOfMonth());
  }

  private static String humanHour(int hourOrdinal) {
    OffsetDateTime time = EPOCH.plusHours(hourOrdinal);
    return String.format(
        Locale.ROOT, "%04d-%02d-%02d-%02d", time.getYear(), time.getMonth().getValue(), time.getDayOfMonth(), time.getHour());
  }
}
